// Tracking URIs as they are shown: the password of "user:password@" never, everything else as given.

#include <gtest/gtest.h>

#include <string>

#include "tracker/transport/uri_redaction.hpp"

using mlflow::transport::mask_userinfo;
using mlflow::transport::redact_password;

TEST(UriRedaction, redact_password_keeps_the_user_and_hides_the_password) {
  EXPECT_EQ(redact_password("http://user:secret@host:5000"), "http://user:***@host:5000");
  EXPECT_EQ(redact_password("https://alice:p%40ss@mlflow.example.com/prefix/"),
            "https://alice:***@mlflow.example.com/prefix/");
  EXPECT_EQ(redact_password("http://user:secret@[::1]:5000/p?q=1"), "http://user:***@[::1]:5000/p?q=1");
}

TEST(UriRedaction, redact_password_leaves_a_uri_without_password_alone) {
  for (const std::string uri : {"http://host:5000", "http://user@host:5000", "http://user:@host", "sqlite:///mlflow.db",
                                "sqlite:////abs/a:b@c.db", "http://host:5000/a:b@c", "http://host/?x=u:p@h", ""}) {
    EXPECT_EQ(redact_password(uri), uri);
  }
}

TEST(UriRedaction, redact_password_masks_what_does_not_parse_conservatively) {
  // An unencoded '@' in the user name (an e-mail address) is no valid URI: the last '@' ends the password.
  EXPECT_EQ(redact_password("http://alice@corp:s3cret@host:5000"), "http://alice@corp:***@host:5000");
  EXPECT_EQ(redact_password("http://u:pa/ss@host"), "http://u:***@host");
  EXPECT_EQ(redact_password("user:pw12345://x@host"), "user:***@host");
}

TEST(UriRedaction, redact_password_is_idempotent) {
  for (const std::string uri : {"http://user:secret@host:5000", "http://alice@corp:s3cret@host", "http://host"}) {
    EXPECT_EQ(redact_password(redact_password(uri)), redact_password(uri));
  }
}

TEST(UriRedaction, mask_userinfo_hides_the_whole_userinfo_but_keeps_a_scheme) {
  EXPECT_EQ(mask_userinfo("http://alice@corp:s3cret@host:5000/"), "http://***@host:5000/");
  EXPECT_EQ(mask_userinfo("user:pw12345://x@host"), "***@host");
  EXPECT_EQ(mask_userinfo("http://host:5000"), "http://host:5000");
}
