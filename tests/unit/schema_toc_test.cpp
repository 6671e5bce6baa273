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
  CHECK(plan.after_keys.empty());
  CHECK(plan.restore.size() ==
        plan.before_tables.size() + plan.after_tables.size() + plan.dependent.size());
}

namespace {

// As pg_dump 15 lists objects valid only once a primary key exists (oids
// as above, 2606 pg_constraint): customer_spend groups by customer's key,
// so pg_dump creates a dummy view in pre-data and lists its real
// definition as RULE "customer_spend _RETURN" after the constraint;
// customer_spend_mv and spend_of() (a SQL-standard body) group by it too
// and are postponed with their comments and grant; spend_summary and
// big_spenders read the view (its dummy is enough to create them).
constexpr const char* kKeyListing = R"(
214; 1259 16385 TABLE public customer postgres
215; 1259 16394 TABLE public invoice postgres
216; 1259 16406 VIEW public customer_spend postgres
3377; 0 0 COMMENT public VIEW customer_spend postgres
219; 1259 16421 MATERIALIZED VIEW public spend_summary postgres
217; 1259 16410 VIEW public big_spenders postgres
3220; 2606 16391 CONSTRAINT public customer customer_pkey postgres
231; 1255 16425 FUNCTION public spend_of(integer) postgres
218; 1259 16414 MATERIALIZED VIEW public customer_spend_mv postgres
3378; 0 0 COMMENT public MATERIALIZED VIEW customer_spend_mv postgres
3379; 0 0 COMMENT public COLUMN customer_spend_mv.n postgres
3380; 0 0 ACL public TABLE customer_spend_mv postgres
3222; 2606 16400 CONSTRAINT public invoice invoice_pkey postgres
3223; 1259 16420 INDEX public customer_spend_mv_customer_id_idx postgres
3367; 2618 16409 RULE public customer_spend _RETURN postgres
3368; 3256 16430 POLICY public invoice invoice_p postgres
3369; 2620 16431 TRIGGER public invoice invoice_t postgres
3224; 2606 16401 FK CONSTRAINT public invoice invoice_customer_id_fkey postgres
3381; 0 0 COMMENT public TRIGGER invoice_t ON invoice postgres
)";

constexpr uint32_t kCustomer = 16385;
constexpr uint32_t kInvoice = 16394;
constexpr uint32_t kCustomerSpend = 16406;

TocFacts key_facts() {
  TocFacts facts;
  facts.available = {kCustomer, kInvoice};
  facts.relations[{1259, kCustomerSpend}] = {kCustomer, kInvoice};
  facts.relations[{1259, 16421}] = {kCustomerSpend};
  facts.relations[{1259, 16410}] = {kCustomerSpend};
  facts.relations[{1259, 16414}] = {kCustomer, kInvoice};
  facts.relations[{1259, 16420}] = {16414};  // the index is on customer_spend_mv
  facts.relations[{2618, 16409}] = {kCustomerSpend};
  facts.relations[{3256, 16430}] = {kInvoice};
  facts.relations[{2620, 16431}] = {kInvoice};
  // As pg_restore -l --section=post-data lists them.
  facts.post_data = {3220, 231, 218, 3378, 3379, 3380, 3222, 3223, 3367, 3368, 3369, 3224, 3381};
  facts.need_key = {{3256, 16430}};  // the policy's subquery groups by customer's key
  return facts;
}

}  // namespace

TEST_CASE("plan_toc leaves what pg_dump orders after the keys until the keys exist",
          "[schema_toc]") {
  const auto entries = parse_toc(kKeyListing);
  const auto plan = plan_toc(entries, key_facts());
  CHECK(plan.before_tables.empty());  // spend_of() needs no table's row type, but the key
  CHECK(descs(entries, plan.after_tables) ==
        std::vector<std::string>{"VIEW customer_spend", "MATERIALIZED VIEW spend_summary",
                                 "VIEW big_spenders", "TRIGGER invoice invoice_t"});
  CHECK(descs(entries, plan.after_keys) ==
        std::vector<std::string>{"FUNCTION spend_of(integer)",
                                 "MATERIALIZED VIEW customer_spend_mv",
                                 "INDEX customer_spend_mv_customer_id_idx",
                                 "RULE customer_spend _RETURN", "POLICY invoice invoice_p"});
  CHECK(descs(entries, plan.after_copy) ==
        std::vector<std::string>{
            "COMMENT MATERIALIZED VIEW customer_spend_mv", "COMMENT COLUMN customer_spend_mv.n",
            "ACL TABLE customer_spend_mv", "COMMENT TRIGGER invoice_t ON invoice"});
  CHECK(descs(entries, plan.dependent) ==
        std::vector<std::string>{
            "COMMENT VIEW customer_spend", "COMMENT MATERIALIZED VIEW customer_spend_mv",
            "COMMENT COLUMN customer_spend_mv.n", "ACL TABLE customer_spend_mv",
            "COMMENT TRIGGER invoice_t ON invoice"});
  // Both are filled after the copy, once the view has its real definition.
  CHECK(descs(entries, plan.refresh) ==
        std::vector<std::string>{"MATERIALIZED VIEW spend_summary",
                                 "MATERIALIZED VIEW customer_spend_mv"});
  CHECK(plan.unavailable.empty());
  CHECK(std::is_sorted(plan.restore.begin(), plan.restore.end()));
  CHECK(plan.restore.size() == plan.before_tables.size() + plan.after_tables.size() +
                                   plan.after_keys.size() + plan.dependent.size());
}

TEST_CASE("plan_toc postpones a view's real definition, and a postponed view's triggers",
          "[schema_toc]") {
  // Without the section known, a separate _RETURN rule still waits.
  auto entries = parse_toc(kKeyListing);
  auto facts = key_facts();
  facts.post_data.clear();
  auto plan = plan_toc(entries, facts);
  CHECK(descs(entries, plan.after_keys) ==
        std::vector<std::string>{"RULE customer_spend _RETURN", "POLICY invoice invoice_p"});
  // pg_dump versions that list a postponed view as VIEW in post-data: it
  // waits, and so does an INSTEAD OF trigger on it.
  entries = parse_toc(
      "214; 1259 16385 TABLE public customer postgres\n"
      "3220; 2606 16391 CONSTRAINT public customer customer_pkey postgres\n"
      "216; 1259 16406 VIEW public customer_spend postgres\n"
      "3370; 2620 16432 TRIGGER public customer_spend customer_spend_insert postgres\n");
  facts = TocFacts{};
  facts.available = {kCustomer};
  facts.relations[{1259, kCustomerSpend}] = {kCustomer};
  facts.relations[{2620, 16432}] = {kCustomerSpend};
  facts.post_data = {3220, 216, 3370};
  plan = plan_toc(entries, facts);
  CHECK(descs(entries, plan.after_keys) ==
        std::vector<std::string>{"VIEW customer_spend",
                                 "TRIGGER customer_spend customer_spend_insert"});
  CHECK(plan.after_tables.empty());
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
  CHECK(plan.after_keys.empty());
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
