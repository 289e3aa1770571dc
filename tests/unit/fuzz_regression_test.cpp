// Inputs the libFuzzer targets of tests/fuzz found (issue 8), kept as unit tests so that the bugs they showed
// stay fixed in every build, sanitized or not. Each test names its fuzz target and the bug.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mlflow/error.hpp"
#include "storage/search.hpp"
#include "tracker/rest/json_codec.hpp"
#include "tracker/transport/http_client.hpp"

namespace {

using mlflow::ErrorCode;
using mlflow::MlflowError;

// fuzz_json_decode: "-0E144144" is -0.0; the writer printed it as "-0", which reads back as the integer 0, so a
// metric of -0.0 lost its sign on the wire, and any integral double turned into an integer.
TEST(FuzzRegression, json_writer_keeps_doubles_doubles_and_the_sign_of_zero) {
  const boost::json::value v = mlflow::rest::parse_json("-0E144144");
  ASSERT_TRUE(v.is_double());
  const std::string written = mlflow::rest::write_json(v);
  EXPECT_EQ(written, "-0.0");
  const boost::json::value back = mlflow::rest::parse_json(written);
  ASSERT_TRUE(back.is_double());
  EXPECT_TRUE(std::signbit(back.get_double()));
  EXPECT_EQ(mlflow::rest::write_json(boost::json::value(5.0)), "5.0");
  EXPECT_EQ(mlflow::rest::write_json(boost::json::value(1e300)), "1e+300");
  EXPECT_EQ(mlflow::rest::write_json(boost::json::value(std::int64_t{5})), "5");

  const mlflow::Metric metric{"m", -0.0, 1, 2};
  const auto decoded =
      mlflow::rest::decode_metric(mlflow::rest::parse_json(mlflow::rest::write_json(mlflow::rest::encode_metric(metric)))
                                      .as_object());
  EXPECT_TRUE(std::signbit(decoded.value));
}

std::string invalid_uri_message(const std::string& uri) {
  try {
    mlflow::transport::parse_base_uri(uri);
  } catch (const MlflowError& e) {
    EXPECT_EQ(e.error_code(), ErrorCode::INVALID_PARAMETER_VALUE);
    return e.message();
  }
  ADD_FAILURE() << "'" << uri << "' was accepted";
  return {};
}

// fuzz_tracking_uri: the error message masked the URI only up to the FIRST '@', so a user name holding an
// unencoded '@' (an e-mail address) showed the password.
TEST(FuzzRegression, an_invalid_uri_never_shows_its_password) {
  std::string message = invalid_uri_message("http://alice@corp.example:s3cretpw@mlflow.example.com:5000/");
  EXPECT_EQ(message.find("s3cretpw"), std::string::npos) << message;
  EXPECT_NE(message.find("http://***@mlflow.example.com:5000/"), std::string::npos) << message;
  // The input the fuzzer found: no "://" at all.
  message = invalid_uri_message("http@+/user:sretpassw\x91\x89" "d@mlflow.fx:");
  EXPECT_EQ(message.find("sretpassw"), std::string::npos) << message;
  // Text before "://" that is no scheme is masked too.
  message = invalid_uri_message("user:pw12345://x@host");
  EXPECT_EQ(message.find("pw12345"), std::string::npos) << message;
}

// fuzz_tracking_uri: the host is percent-decoded, so "%00" put a NUL byte (and "%2F" a '/') into the name given
// to the resolver and to TLS verification, and display() no longer parsed.
TEST(FuzzRegression, a_percent_encoded_host_with_bytes_no_host_name_has_is_refused) {
  for (const std::string uri : {"http://user:secretpassword@mlflow.exam%000/prefix//prefix/",
                                "http://evil.example%2Fgood.example/", "https://a%20b:443/", "http://a%3Ab/"}) {
    SCOPED_TRACE(uri);
    const std::string message = invalid_uri_message(uri);
    EXPECT_NE(message.find("host name"), std::string::npos) << message;
  }
  const auto ok = mlflow::transport::parse_base_uri("http://my_host-1.example:5000/p");
  EXPECT_EQ(ok.host, "my_host-1.example");
  EXPECT_EQ(mlflow::transport::parse_base_uri("http://[::1]:5000").host, "::1");
}

// fuzz_search_filter: a page token is caller input; {"offset": 9223372036854775806} made paginate compute
// offset + max_results with a signed overflow (undefined behaviour, caught by UBSan).
TEST(FuzzRegression, a_page_token_with_a_huge_offset_gives_an_empty_last_page) {
  const std::string token = mlflow::search::encode_page_token(std::numeric_limits<std::int64_t>::max() - 1);
  EXPECT_EQ(token, "eyJvZmZzZXQiOiA5MjIzMzcyMDM2ODU0Nzc1ODA2fQ==");
  const auto page = mlflow::search::paginate(std::vector<int>{1, 2, 3}, 1000, token);
  EXPECT_TRUE(page.items.empty());
  EXPECT_TRUE(page.next_page_token.empty());
  const auto middle = mlflow::search::paginate(std::vector<int>{1, 2, 3}, std::numeric_limits<std::int64_t>::max(),
                                               mlflow::search::encode_page_token(1));
  EXPECT_EQ(middle.items, (std::vector<int>{2, 3}));
  EXPECT_TRUE(middle.next_page_token.empty());
}

}  // namespace
