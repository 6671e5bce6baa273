#include "cutover/command_router.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/log.h"

extern char** environ;

namespace switchyard::cutover {
namespace {

// Runs `command` with /bin/sh -c in its own process group, its output
// captured into a temporary file. Kills the group at the deadline.
// Returns the exit status, or -1 on timeout; `output` gets the last line.
// (posix_spawn and waitpid: a library for these few calls would pull in
// Boost.Filesystem for nothing else.)
int run_shell(const std::string& command, const std::vector<std::string>& extra_env,
              Clock::time_point deadline, std::string& output) {
  char path[] = "/tmp/switchyard-command.XXXXXX";
  const int out_fd = ::mkstemp(path);
  if (out_fd < 0) throw Error(ErrorKind::kInternal, "cannot create a temporary file");
  ::unlink(path);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);

  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry; ++entry) env_strings.emplace_back(*entry);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> env;
  for (auto& entry : env_strings) env.push_back(entry.data());
  env.push_back(nullptr);
  std::string shell = "/bin/sh", flag = "-c", text = command;
  char* argv[] = {shell.data(), flag.data(), text.data(), nullptr};

  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    ::close(out_fd);
    throw Error(ErrorKind::kInternal, "cannot start /bin/sh");
  }

  int status = 0;
  int result = -1;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // The last non-empty line of what it printed.
  std::string captured;
  char buffer[4096];
  ::lseek(out_fd, 0, SEEK_SET);
  for (ssize_t got; (got = ::read(out_fd, buffer, sizeof buffer)) > 0;) {
    captured.append(buffer, static_cast<size_t>(got));
  }
  ::close(out_fd);
  while (!captured.empty() && (captured.back() == '\n' || captured.back() == '\r')) {
    captured.pop_back();
  }
  const auto newline = captured.rfind('\n');
  output = newline == std::string::npos ? captured : captured.substr(newline + 1);
  return result;
}

}  // namespace

void CommandRouter::check(Primary expected) {
  const std::pair<const char*, const std::string*> commands[] = {
      {"freeze", &settings_.freeze_command},
      {"switch", &settings_.switch_command},
      {"resume", &settings_.resume_command}};
  for (const auto& [key, command] : commands) {
    if (command->empty()) {
      throw Error(ErrorKind::kPrecondition,
                  std::string("router.") + key + " is empty; kind command needs all three");
    }
  }
  // A check that cannot confirm the present route would roll back every
  // cutover inside its freeze: find out now.
  if (settings_.check_command.empty()) return;
  try {
    run("check", settings_.check_command, Clock::now() + settings_.command_timeout,
        to_string(expected));
  } catch (const Error& error) {
    throw Error(ErrorKind::kPrecondition,
                std::string("router.check does not confirm that the router sends applications "
                            "to the ") +
                    to_string(expected) + ": " + error.what());
  }
}

void CommandRouter::run(const std::string& key, const std::string& command,
                        Clock::time_point deadline, const std::string& primary) {
  const auto bounded = std::min(deadline, Clock::now() + settings_.command_timeout);
  std::vector<std::string> env;
  if (!primary.empty()) env.push_back("SWITCHYARD_PRIMARY=" + primary);
  std::string output;
  const int status = run_shell(command, env, bounded, output);
  if (status == 0) return;
  const std::string tail = output.empty() ? "" : ": " + output;
  if (status < 0) {
    throw Error(ErrorKind::kTimeout, "router." + key + " did not finish in time" + tail);
  }
  throw Error(ErrorKind::kPrecondition,
              "router." + key + " exited with status " + std::to_string(status) + tail);
}

void CommandRouter::freeze(Clock::time_point deadline) {
  try {
    run("freeze", settings_.freeze_command, deadline);
  } catch (const Error&) {
    // All or nothing: whatever the freeze command got to, undo it.
    try {
      resume(Clock::now() + settings_.command_timeout);
    } catch (const Error& resume_error) {
      spdlog::error("{}", resume_error.what());
    }
    throw;
  }
}

std::string CommandRouter::switch_to(Primary primary, Clock::time_point deadline) {
  run("switch", settings_.switch_command, deadline, to_string(primary));
  if (settings_.check_command.empty()) return "router.switch exited 0 (no router.check)";
  run("check", settings_.check_command, deadline, to_string(primary));
  return "router.check confirmed it";
}

void CommandRouter::resume(Clock::time_point deadline) {
  run("resume", settings_.resume_command, deadline);
}

}  // namespace switchyard::cutover
