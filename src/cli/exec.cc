// kiln exec INSTANCE -- CMD ARGS...: runs a command in a running instance, streams its output,
// and exits with its exit code. With -i, stdin is sent to the command.
#include <unistd.h>

#include <iostream>

#include "base/frames.h"
#include "base/fs.h"
#include "cli/cli_context.h"

namespace kiln::cli {
namespace {

// Splits the exec stream into frames: 1 stdout, 2 stderr, 3 exit code.
class FrameDecoder {
 public:
  Status Feed(const char* d, size_t n) {
    frames_.Append(d, n);
    char stream;
    std::string payload;
    while (frames_.Next(stream, payload)) {
      if (stream == 1 || stream == 2) {
        TRY(WriteFull(stream == 1 ? STDOUT_FILENO : STDERR_FILENO, payload.data(), payload.size()));
      } else if (stream == 3) {
        exit_code_ = std::atoi(payload.c_str());
      } else {
        return Error::Internal("unexpected exec stream frame");
      }
    }
    return Ok();
  }
  int exit_code() const { return exit_code_; }

 private:
  FrameReader frames_;
  int exit_code_ = -1;
};

}  // namespace

void AddExec(CLI::App& app, CliContext& cc, int* exit_code) {
  struct Opts {
    std::string instance, cwd, user;
    std::vector<std::string> env, args;
    bool interactive = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd =
      app.add_subcommand("exec", "Run a command in a running instance; exits with its code");
  cmd->add_option("instance", o->instance, "Instance name or id")->required();
  cmd->add_option("command", o->args, "Command and arguments (after --)")->required();
  cmd->add_option("-e,--env", o->env, "Environment variable K=V (repeatable)");
  cmd->add_option("-w,--workdir", o->cwd, "Working directory inside the instance");
  cmd->add_option("-u,--user", o->user, "uid[:gid] to run as");
  cmd->add_flag("-i,--interactive", o->interactive, "Send stdin to the command");
  cmd->callback([&cc, o, exit_code] {
    cc.action = [&cc, o, exit_code]() -> Status {
      nlohmann::json spec = {
          {"args", o->args}, {"env", o->env}, {"cwd", o->cwd}, {"user", o->user}};
      std::string path = "/v1/instances/" + ApiClient::Escape(o->instance) +
                         "/exec?spec=" + ApiClient::Escape(spec.dump());
      FrameDecoder frames;
      bool sent = false;
      TRY(cc.api().Stream(
          path,
          [&](char* buf, size_t n) -> Result<size_t> {
            if (!o->interactive || sent) return size_t{0};
            ssize_t r = ::read(STDIN_FILENO, buf, n);
            if (r < 0) return Error::Sys(errno, "read stdin");
            if (r == 0) sent = true;
            return static_cast<size_t>(r);
          },
          [&](const char* d, size_t n) { return frames.Feed(d, n); }));
      if (frames.exit_code() < 0) return Error(ErrorCode::kIO, "exec ended without an exit code");
      *exit_code = frames.exit_code();
      return Ok();
    };
  });
}

}  // namespace kiln::cli
