// The Catch2 runner for switchyard_unit_tests; the cases live in *_test.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
