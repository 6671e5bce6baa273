#include <catch2/catch.hpp>

#include "replicator/apply_statements.h"

using switchyard::TableShape;

namespace {

// orders(id int, "Item Name" text, note json), key (id).
TableShape orders() {
  TableShape shape;
  shape.qualified = "\"public\".\"orders\"";
  shape.columns = {"id", "Item Name", "note"};
  shape.types = {"integer", "text", "json"};
  shape.key_columns = {0};
  shape.compare_as_text = {false, false, true};
  return shape;
}

// line_items(order_id, line_no, qty), key (order_id, line_no).
TableShape line_items() {
  TableShape shape;
  shape.qualified = "\"public\".\"line_items\"";
  shape.columns = {"order_id", "line_no", "qty"};
  shape.types = {"bigint", "smallint", "numeric"};
  shape.key_columns = {0, 1};
  shape.compare_as_text = {false, false, false};
  return shape;
}

}  // namespace

TEST_CASE("Multi-row insert numbers parameters row after row", "[apply_statements]") {
  CHECK(switchyard::insert_rows_sql(orders(), 2) ==
        "INSERT INTO \"public\".\"orders\" (\"id\", \"Item Name\", \"note\") VALUES "
        "($1, $2, $3), ($4, $5, $6)");
}

TEST_CASE("Multi-row update joins typed VALUES on the key and sets only sent columns",
          "[apply_statements]") {
  CHECK(switchyard::update_rows_sql(orders(), "ksu", 2) ==
        "UPDATE \"public\".\"orders\" AS t SET \"Item Name\" = v.c0 FROM (VALUES "
        "($1::integer, $2::text), ($3::integer, $4::text)) AS v (k0, c0) WHERE t.\"id\" = v.k0");
}

TEST_CASE("Multi-row update with a composite key", "[apply_statements]") {
  CHECK(switchyard::update_rows_sql(line_items(), "kks", 1) ==
        "UPDATE \"public\".\"line_items\" AS t SET \"qty\" = v.c0 FROM (VALUES "
        "($1::bigint, $2::smallint, $3::numeric)) AS v (k0, k1, c0) "
        "WHERE t.\"order_id\" = v.k0 AND t.\"line_no\" = v.k1");
}

TEST_CASE("Multi-row delete joins typed VALUES on the key", "[apply_statements]") {
  CHECK(switchyard::delete_rows_sql(line_items(), 2) ==
        "DELETE FROM \"public\".\"line_items\" AS t USING (VALUES ($1::bigint, $2::smallint), "
        "($3::bigint, $4::smallint)) AS v (k0, k1) "
        "WHERE t.\"order_id\" = v.k0 AND t.\"line_no\" = v.k1");
}

TEST_CASE("Single-row update of a key change sets every sent column, matches the old key",
          "[apply_statements]") {
  CHECK(switchyard::update_one_sql(orders(), "ssu", "k", false) ==
        "UPDATE \"public\".\"orders\" SET \"id\" = $1, \"Item Name\" = $2 WHERE \"id\" = $3");
}

TEST_CASE("REPLICA IDENTITY FULL matches one row on every sent column, json as text",
          "[apply_statements]") {
  CHECK(switchyard::update_one_sql(orders(), "sss", "kkk", true) ==
        "UPDATE \"public\".\"orders\" SET \"id\" = $1, \"Item Name\" = $2, \"note\" = $3 "
        "WHERE ctid = (SELECT ctid FROM \"public\".\"orders\" WHERE \"id\" IS NOT DISTINCT FROM $4 "
        "AND \"Item Name\" IS NOT DISTINCT FROM $5 AND \"note\"::text IS NOT DISTINCT FROM "
        "$6::text LIMIT 1)");
  CHECK(switchyard::delete_one_sql(orders(), "kuk", true) ==
        "DELETE FROM \"public\".\"orders\" WHERE ctid = (SELECT ctid FROM \"public\".\"orders\" "
        "WHERE \"id\" IS NOT DISTINCT FROM $1 AND \"note\"::text IS NOT DISTINCT FROM $2::text "
        "LIMIT 1)");
}

TEST_CASE("A logged update logs the old and new rows, or a 0 when no row matched",
          "[apply_statements]") {
  // Three columns set ($1-$3), two matched (the 'u' is left out): the log
  // takes $6 on.
  CHECK(switchyard::logged_update_one_sql(orders(), "sss", "kuk") ==
        "WITH changed AS (UPDATE \"public\".\"orders\" SET \"id\" = $1, \"Item Name\" = $2, "
        "\"note\" = $3 WHERE ctid = (SELECT ctid FROM \"public\".\"orders\" WHERE \"id\" IS NOT "
        "DISTINCT FROM $4 AND \"note\"::text IS NOT DISTINCT FROM $5::text LIMIT 1) RETURNING 1) "
        "INSERT INTO switchyard.keyless_images (stream, schema_name, table_name, sign, lsns, "
        "images) SELECT $6, $7, $8, CASE WHEN EXISTS (SELECT FROM changed) THEN x.sign ELSE 0 END, "
        "ARRAY[$9::pg_lsn], ARRAY[x.image] FROM (VALUES (-1::smallint, $10::text[]), "
        "(1::smallint, $11::text[])) AS x (sign, image)");
}

TEST_CASE("A logged delete logs the row removed, or a 0 when no row matched",
          "[apply_statements]") {
  CHECK(switchyard::logged_delete_one_sql(orders(), "kkk") ==
        "WITH changed AS (DELETE FROM \"public\".\"orders\" WHERE ctid = (SELECT ctid FROM "
        "\"public\".\"orders\" WHERE \"id\" IS NOT DISTINCT FROM $1 AND \"Item Name\" IS NOT "
        "DISTINCT FROM $2 AND \"note\"::text IS NOT DISTINCT FROM $3::text LIMIT 1) RETURNING 1) "
        "INSERT INTO switchyard.keyless_images (stream, schema_name, table_name, sign, lsns, "
        "images) SELECT $4, $5, $6, CASE WHEN EXISTS (SELECT FROM changed) THEN -1 ELSE 0 END, "
        "ARRAY[$7::pg_lsn], ARRAY[$8::text[]]");
}

TEST_CASE("A row image is a text[] literal: values quoted and escaped, NULL bare",
          "[apply_statements]") {
  const std::string plain = "42", quoted = "say \"hi\"", backslash = "C:\\dir", null_word = "NULL",
                    empty;
  std::string literal;
  switchyard::append_image_literal(literal,
                                   {&plain, nullptr, &quoted, &backslash, &null_word, &empty});
  CHECK(literal == "{\"42\",NULL,\"say \\\"hi\\\"\",\"C:\\\\dir\",\"NULL\",\"\"}");
  // Rows follow one another: the caller joins them into {{...},{...}}.
  switchyard::append_image_literal(literal, {nullptr});
  CHECK(literal.substr(literal.size() - 6) == "{NULL}");
}

TEST_CASE("A GENERATED ALWAYS identity is inserted with OVERRIDING SYSTEM VALUE, never SET",
          "[apply_statements]") {
  TableShape shape = orders();
  CHECK(switchyard::insert_rows_sql(shape, 1) ==
        "INSERT INTO \"public\".\"orders\" (\"id\", \"Item Name\", \"note\") VALUES ($1, $2, $3)");
  shape.identity_always = {true, false, false};
  CHECK(switchyard::insert_rows_sql(shape, 2) ==
        "INSERT INTO \"public\".\"orders\" (\"id\", \"Item Name\", \"note\") OVERRIDING SYSTEM "
        "VALUE VALUES ($1, $2, $3), ($4, $5, $6)");
  // Unchanged: the identity column is left out of SET ('i').
  CHECK(switchyard::update_one_sql(shape, "iss", "k", false) ==
        "UPDATE \"public\".\"orders\" SET \"Item Name\" = $1, \"note\" = $2 WHERE \"id\" = $3");
  // Changed (id = DEFAULT on the source, or a new key): the row is replaced,
  // a column not sent keeping the deleted row's value.
  CHECK(switchyard::replace_one_sql(shape, "ssu", "k", false) ==
        "WITH gone AS (DELETE FROM \"public\".\"orders\" WHERE \"id\" = $3 RETURNING *) "
        "INSERT INTO \"public\".\"orders\" (\"id\", \"Item Name\", \"note\") OVERRIDING SYSTEM "
        "VALUE SELECT $1::integer, $2::text, gone.\"note\" FROM gone");
}

TEST_CASE("Trigger capture's inserts replace the row of their key", "[apply_statements]") {
  TableShape shape = orders();
  shape.upsert = true;
  CHECK(switchyard::insert_rows_sql(shape, 1) ==
        "INSERT INTO \"public\".\"orders\" (\"id\", \"Item Name\", \"note\") VALUES "
        "($1, $2, $3) ON CONFLICT (\"id\") DO UPDATE SET \"Item Name\" = EXCLUDED.\"Item Name\", "
        "\"note\" = EXCLUDED.\"note\"");
  TableShape link = line_items();
  link.columns.pop_back();
  link.types.pop_back();
  link.compare_as_text.pop_back();
  link.upsert = true;
  CHECK(switchyard::insert_rows_sql(link, 1) ==
        "INSERT INTO \"public\".\"line_items\" (\"order_id\", \"line_no\") VALUES ($1, $2) "
        "ON CONFLICT (\"order_id\", \"line_no\") DO NOTHING");
}
