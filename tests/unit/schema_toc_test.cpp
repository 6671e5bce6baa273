// parse_toc, split_restore_script and plan_toc: which entries of a
// pg_dump --schema-only archive init restores on the target, and when.

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "error_matchers.h"
#include "replicator/schema_toc.h"

using switchyard::Error;
using switchyard::ErrorKind;
using switchyard::parse_toc;
using switchyard::plan_toc;
using switchyard::split_restore_script;
using switchyard::TocEntry;
using switchyard::TocFacts;
using switchyard::test::IsError;

namespace {

// As pg_restore -l lists a schema with a table, functions, a view, a
// materialized view with an index, a trigger, a rule, a policy, comments
// and grants (oids: 1255 pg_proc, 1259 pg_class, 2618 pg_rewrite,
// 2620 pg_trigger, 3256 pg_policy).
constexpr const char* kListing = R"(;
; Archive created at 2026-12-01 13:34:33 UTC
;     dbname: app
;
5; 2615 2200 SCHEMA - public pg_database_owner
3459; 0 0 COMMENT - SCHEMA public pg_database_owner
265; 1255 16501 FUNCTION public film_in_stock(integer, integer) postgres
3460; 0 0 COMMENT public FUNCTION film_in_stock(p_film_id integer, p_store_id integer) postgres
216; 1259 16492 TABLE public film postgres
3463; 0 0 ACL public TABLE film postgres
266; 1255 16502 FUNCTION public films_of() postgres
215; 1259 16491 SEQUENCE public film_film_id_seq postgres
3464; 0 0 SEQUENCE OWNED BY public film_film_id_seq postgres
217; 1259 16504 VIEW public film_list postgres
218; 1259 16508 MATERIALIZED VIEW public film_mv postgres
3300; 2604 16495 DEFAULT public film film_id postgres
3303; 2606 16499 CONSTRAINT public film film_pkey postgres
3467; 0 0 COMMENT public CONSTRAINT film_pkey ON film postgres
3301; 1259 16500 INDEX public film_ft postgres
3304; 1259 16512 INDEX public film_mv_n postgres
3450; 2618 16513 RULE public film film_r postgres
3305; 2620 16503 TRIGGER public film film_fulltext_trigger postgres
3451; 0 16492 ROW SECURITY public film postgres
3452; 3256 16514 POLICY public film film_p postgres
3453; 2620 16600 TRIGGER public excluded excluded_audit postgres
)";

constexpr uint32_t kFilm = 16492;
constexpr uint32_t kExcluded = 16590;

std::vector<std::string> descs(const std::vector<TocEntry>& entries,
                               const std::vector<size_t>& indexes) {
  std::vector<std::string> out;
  for (size_t idx : indexes) out.push_back(entries[idx].desc + " " + entries[idx].tag);
  return out;
}

TocFacts film_facts() {
  TocFacts facts;
  facts.available = {kFilm};
  facts.relations[{1255, 16502}] = {kFilm};  // films_of() returns SETOF film
  facts.relations[{1259, 16504}] = {kFilm};  // film_list reads film
  facts.relations[{1259, 16508}] = {kFilm};
  facts.relations[{1259, 16500}] = {kFilm};  // film_ft is on film
  facts.relations[{1259, 16512}] = {16508};  // film_mv_n is on film_mv
  facts.relations[{2618, 16513}] = {kFilm};
  facts.relations[{2620, 16503}] = {kFilm};
  facts.relations[{3256, 16514}] = {kFilm};
  facts.relations[{2620, 16600}] = {kExcluded};
  return facts;
}

}  // namespace

TEST_CASE("parse_toc reads ids, oids, multi-word types, schema, tag and owner", "[schema_toc]") {
  const auto entries = parse_toc(kListing);
  REQUIRE(entries.size() == 21);
  CHECK(entries[0].dump_id == 5);
  CHECK(entries[0].catalog_oid == 2615);
  CHECK(entries[0].object_oid == 2200);
  CHECK(entries[0].desc == "SCHEMA");
  CHECK(entries[0].schema == "-");
  CHECK(entries[0].tag == "public");
  CHECK(entries[0].owner == "pg_database_owner");
  CHECK(entries[2].desc == "FUNCTION");
  CHECK(entries[2].tag == "film_in_stock(integer, integer)");
  CHECK(entries[3].desc == "COMMENT");
  CHECK(entries[3].tag == "FUNCTION film_in_stock(p_film_id integer, p_store_id integer)");
  CHECK(entries[8].desc == "SEQUENCE OWNED BY");
  CHECK(entries[8].tag == "film_film_id_seq");
  CHECK(entries[10].desc == "MATERIALIZED VIEW");
  CHECK(entries[10].tag == "film_mv");
  CHECK(entries[17].desc == "TRIGGER");
  CHECK(entries[17].tag == "film film_fulltext_trigger");
  CHECK(entries[18].desc == "ROW SECURITY");
  CHECK(entries[18].catalog_oid == 0);
  CHECK(entries[18].object_oid == kFilm);
  CHECK(entries[2].line ==
        "265; 1255 16501 FUNCTION public film_in_stock(integer, integer) postgres");
}

TEST_CASE("parse_toc refuses a line it cannot read", "[schema_toc]") {
  REQUIRE_THROWS_MATCHES(parse_toc("265; x 16501 FUNCTION public f() postgres\n"), Error,
                         IsError(ErrorKind::kInternal, {"pg_restore", "265; x"}));
  REQUIRE_THROWS_MATCHES(parse_toc("265; 1255 16501 FUNCTION\n"), Error,
                         IsError(ErrorKind::kInternal, {"pg_restore"}));
}

TEST_CASE("plan_toc leaves tables, sequences, keys and their indexes to switchyard",
          "[schema_toc]") {
  const auto entries = parse_toc(kListing);
  const auto plan = plan_toc(entries, film_facts());
  for (size_t idx : plan.restore) {
    const std::string& desc = entries[idx].desc;
    CHECK(desc != "SCHEMA");
    CHECK(desc != "TABLE");
    CHECK(desc != "SEQUENCE");
    CHECK(desc != "SEQUENCE OWNED BY");
    CHECK(desc != "DEFAULT");
    CHECK(desc != "CONSTRAINT");
    CHECK(entries[idx].tag != "film_ft");  // the table's index
  }
}

TEST_CASE("plan_toc orders functions, then what needs the tables, then comments and grants",
          "[schema_toc]") {
  const auto entries = parse_toc(kListing);
  const auto plan = plan_toc(entries, film_facts());
  CHECK(descs(entries, plan.before_tables) ==
        std::vector<std::string>{"FUNCTION film_in_stock(integer, integer)"});
  CHECK(descs(entries, plan.after_tables) ==
        std::vector<std::string>{"FUNCTION films_of()", "VIEW film_list",
                                 "MATERIALIZED VIEW film_mv", "INDEX film_mv_n", "RULE film film_r",
                                 "TRIGGER film film_fulltext_trigger", "ROW SECURITY film",
                                 "POLICY film film_p"});
  CHECK(descs(entries, plan.dependent) ==
        std::vector<std::string>{
            "COMMENT SCHEMA public",
            "COMMENT FUNCTION film_in_stock(p_film_id integer, p_store_id integer)",
            "ACL TABLE film", "COMMENT CONSTRAINT film_pkey ON film"});
  CHECK(descs(entries, plan.after_copy) ==
        std::vector<std::string>{"COMMENT CONSTRAINT film_pkey ON film"});
  CHECK(descs(entries, plan.refresh) == std::vector<std::string>{"MATERIALIZED VIEW film_mv"});
  // The -L list keeps pg_dump's order.
  CHECK(std::is_sorted(plan.restore.begin(), plan.restore.end()));
  CHECK(plan.restore.size() ==
        plan.before_tables.size() + plan.after_tables.size() + plan.dependent.size());
}

TEST_CASE("plan_toc skips what the target has, and still refreshes its materialized views",
          "[schema_toc]") {
  const auto entries = parse_toc(kListing);
  auto facts = film_facts();
  facts.on_target = {{1255, 16501}, {1259, 16508}, {2620, 16503}};
  const auto plan = plan_toc(entries, facts);
  const auto created = descs(entries, plan.restore);
  CHECK(std::find(created.begin(), created.end(), "FUNCTION film_in_stock(integer, integer)") ==
        created.end());
  CHECK(std::find(created.begin(), created.end(), "MATERIALIZED VIEW film_mv") == created.end());
  CHECK(std::find(created.begin(), created.end(), "TRIGGER film film_fulltext_trigger") ==
        created.end());
  // The existing matview's index is still created, and its data refreshed.
  CHECK(std::find(created.begin(), created.end(), "INDEX film_mv_n") != created.end());
  CHECK(descs(entries, plan.refresh) == std::vector<std::string>{"MATERIALIZED VIEW film_mv"});
}

TEST_CASE("plan_toc skips objects on tables the target will not have, and what builds on them",
          "[schema_toc]") {
  const auto entries = parse_toc(kListing);
  auto facts = film_facts();
  facts.available.clear();  // film is excluded
  const auto plan = plan_toc(entries, facts);
  CHECK(descs(entries, plan.unavailable) ==
        std::vector<std::string>{"FUNCTION films_of()", "VIEW film_list",
                                 "MATERIALIZED VIEW film_mv", "INDEX film_mv_n", "RULE film film_r",
                                 "TRIGGER film film_fulltext_trigger", "ROW SECURITY film",
                                 "POLICY film film_p", "TRIGGER excluded excluded_audit"});
  CHECK(descs(entries, plan.before_tables) ==
        std::vector<std::string>{"FUNCTION film_in_stock(integer, integer)"});
  CHECK(plan.after_tables.empty());
  CHECK(plan.refresh.empty());
}

TEST_CASE("split_restore_script cuts pg_restore's output at the expected headers, in any order",
          "[schema_toc]") {
  // Listed in pg_dump's order; pg_restore prints grants last.
  const std::string listing =
      "265; 1255 16501 FUNCTION public f(integer) postgres\n"
      "3463; 0 0 ACL public TABLE film postgres\n"
      "218; 1259 16508 MATERIALIZED VIEW public mv postgres\n";
  const auto entries = parse_toc(listing);
  const std::string script =
      "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n"
      "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n"
      "--\n-- Name: f(integer); Type: FUNCTION; Schema: public; Owner: -\n--\n\n"
      "CREATE FUNCTION public.f(integer) RETURNS text LANGUAGE sql AS $$\n"
      "--\n-- Name: mv; Type: MATERIALIZED VIEW; Schema: public; Owner: -\n--\n"
      "SELECT 'a body quoting a header' $$;\n\n\n"
      "SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n"
      "--\n-- Name: mv; Type: MATERIALIZED VIEW; Schema: public; Owner: -\n--\n\n"
      "CREATE MATERIALIZED VIEW public.mv AS\n SELECT 1 AS one\n  WITH NO DATA;\n\n\n"
      "--\n-- Name: TABLE film; Type: ACL; Schema: public; Owner: -\n--\n\n"
      "GRANT SELECT ON TABLE public.film TO app_user;\n\n\n"
      "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";
  const auto parts = split_restore_script(script, entries);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0] ==
        "CREATE FUNCTION public.f(integer) RETURNS text LANGUAGE sql AS $$\n"
        "--\n-- Name: mv; Type: MATERIALIZED VIEW; Schema: public; Owner: -\n--\n"
        "SELECT 'a body quoting a header' $$;\n");
  CHECK(parts[1] == "GRANT SELECT ON TABLE public.film TO app_user;\n");
  CHECK(parts[2] == "CREATE MATERIALIZED VIEW public.mv AS\n SELECT 1 AS one\n  WITH NO DATA;\n");
}

TEST_CASE("split_restore_script refuses output that lacks an entry", "[schema_toc]") {
  const auto entries = parse_toc("265; 1255 16501 FUNCTION public f(integer) postgres\n");
  REQUIRE_THROWS_MATCHES(split_restore_script("--\n-- nothing here\n", entries), Error,
                         IsError(ErrorKind::kInternal, {"FUNCTION f(integer)"}));
}
