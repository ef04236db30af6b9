// api: how every handler answers: JSON bodies, and errors as {"error": {"code", "message"}} with
// the status their code maps to.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace kiln {

int HttpStatusFor(ErrorCode code);

inline void Reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

inline void ReplyError(httplib::Response& res, const Error& e) {
  Reply(res, HttpStatusFor(e.code()),
        {{"error", {{"code", ErrorCodeName(e.code())}, {"message", e.message()}}}});
}

}  // namespace kiln
