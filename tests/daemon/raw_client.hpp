// Test helpers that speak the control protocol byte for byte over the bus's socket, start shmbusd
// as a child process, and wait for conditions with a bounded deadline.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/control_protocol.hpp"

namespace shmbus::test {

// Polls `condition` every millisecond until it holds or `limit` passes.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A bus name no other test (or test process) uses.
inline std::string unique_bus(std::string_view test) {
  std::string name = "t";
  for (const char c : test) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) name += c;
  }
  name = name.substr(0, 40);
  return name + "_" + std::to_string(::getpid());
}

// -1 if nothing listens on the bus's socket.
inline int connect_bus(const std::string& bus) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const auto address = protocol::control_socket_address(bus);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length) !=
      0) {  // NOLINT
    ::close(fd);
    return -1;
  }
  return fd;
}

class RawClient {
 public:
  explicit RawClient(const std::string& bus) : fd_(connect_bus(bus)) {}
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() { close(); }

  [[nodiscard]] bool connected() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_bytes(std::span<const std::byte> bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // The next datagram, or nullopt on EOF or after 5 s.
  std::optional<std::vector<std::byte>> receive_bytes() {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) return std::nullopt;
    std::vector<std::byte> buffer(protocol::kMaxFrameSize + 64);
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n <= 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

  std::optional<protocol::Message> receive() {
    auto bytes = receive_bytes();
    if (!bytes) return std::nullopt;
    auto decoded = protocol::decode(*bytes);
    if (!std::holds_alternative<protocol::Message>(decoded)) return std::nullopt;
    return std::get<protocol::Message>(decoded);
  }

  std::optional<protocol::Message> call(protocol::Body body) {
    protocol::FrameBuffer buffer{};
    const std::uint32_t id = next_id_++;
    const std::size_t size =
        protocol::encode({protocol::MessageType{}, id, std::move(body)}, buffer);
    if (!send_bytes(std::span<const std::byte>(buffer.data(), size))) return std::nullopt;
    auto reply = receive();
    if (reply && reply->request_id != id) return std::nullopt;
    return reply;
  }

  // The reply body of type T, or nullopt (then `error` holds an ErrorReply if there was one).
  template <typename T>
  std::optional<T> call_as(protocol::Body body, protocol::ErrorReply* error = nullptr) {
    auto reply = call(std::move(body));
    if (!reply) return std::nullopt;
    if (auto* e = std::get_if<protocol::ErrorReply>(&reply->body); e != nullptr && error) {
      *error = *e;
    }
    if (auto* value = std::get_if<T>(&reply->body)) return *value;
    return std::nullopt;
  }

  std::optional<protocol::HelloReply> hello(std::uint64_t resume = 0,
                                            protocol::ErrorReply* error = nullptr) {
    protocol::Hello hello{};
    hello.layout_version = layout::kLayoutVersion;
    hello.resume_client_id = resume;
    protocol::copy_string(hello.client_name, "raw-test");
    return call_as<protocol::HelloReply>(hello, error);
  }

  std::optional<protocol::TopicReply> open(std::string_view name, std::uint32_t slot_size = 0,
                                           std::uint32_t slot_count = 0,
                                           std::uint32_t policy = protocol::kPolicyUnspecified,
                                           protocol::ErrorReply* error = nullptr,
                                           std::uint32_t flags = 0) {
    protocol::OpenTopic request{};
    protocol::copy_string(request.name, name);
    request.slot_size = slot_size;
    request.slot_count = slot_count;
    request.policy = policy;
    request.flags = flags;
    return call_as<protocol::TopicReply>(request, error);
  }

 private:
  int fd_;
  std::uint32_t next_id_ = 1;
};

inline ErrorCode code_of(const protocol::ErrorReply& error) {
  return static_cast<ErrorCode>(error.code);
}
inline std::string text_of(const protocol::ErrorReply& error) {
  return std::string(protocol::view_string(error.text));
}

// A client process that dies on the test's signal: forks and runs `setup(park)` in the child,
// where `park(report)` hands a trivially copyable report of what the child registered back
// through a pipe and parks the child (its clients still attached) until the test kills it.
// nullopt if the fork or the report failed.
template <typename Report, typename Setup>
std::optional<std::pair<pid_t, Report>> spawn_parked_child(Setup&& setup) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::nullopt;
  }
  if (child == 0) {
    ::close(fds[0]);
    const auto park = [&](const Report& report) {
      (void)!::write(fds[1], &report, sizeof(report));
      for (;;)
        ::pause();
    };
    setup(park);
    ::_exit(1);  // setup returned without parking: the parent sees no report
  }
  ::close(fds[1]);
  Report report{};
  pollfd pfd{fds[0], POLLIN, 0};
  const bool reported = ::poll(&pfd, 1, 5000) == 1 && ::read(fds[0], &report, sizeof(report)) ==
                                                          static_cast<ssize_t>(sizeof(report));
  ::close(fds[0]);
  if (!reported) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return std::nullopt;
  }
  return std::pair{child, report};
}

// shmbusd run as a child process with its stderr captured.
class DaemonProcess {
 public:
  explicit DaemonProcess(std::vector<std::string> args) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], STDERR_FILENO);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(SHMBUSD_PATH));    // NOLINT
      argv.push_back(const_cast<char*>("--foreground"));  // NOLINT: the test owns its pid
      for (auto& arg : args)
        argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(SHMBUSD_PATH, argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    output_fd_ = pipe_fds[0];
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;
  ~DaemonProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (output_fd_ >= 0) ::close(output_fd_);
  }

  [[nodiscard]] pid_t pid() const { return pid_; }
  void signal(int number) const { ::kill(pid_, number); }

  // The exit status (or 128 + signal), or -1 if it is still running after `limit`. 30 s: under TSan
  // with other tests running, a daemon's exit after SIGTERM once took longer than 5 s.
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    if (exited_) return status_;
    int raw = 0;
    const bool done = wait_until(
        [&] {
          const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
          return r == pid_;
        },
        limit);
    if (!done) {
      output_ += still_running_report();
      return -1;
    }
    exited_ = true;
    status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    return status_;
  }

  // Everything it printed so far (after it exited: everything).
  std::string output() {
    std::string text;
    char chunk[4096];
    for (;;) {
      pollfd pfd{output_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 0) <= 0) break;
      const ssize_t n = ::read(output_fd_, chunk, sizeof(chunk));
      if (n <= 0) break;
      text.append(chunk, static_cast<std::size_t>(n));
    }
    output_ += text;
    return output_;
  }

  // Waits until the daemon accepts connections (its segments are then ready).
  bool wait_ready(const std::string& bus) {
    return wait_until([&] {
      const int fd = connect_bus(bus);
      if (fd < 0) return false;
      ::close(fd);
      return true;
    });
  }

 private:
  // What the kernel says of a daemon that outlived its wait: its state, pending, blocked and
  // caught signals, and where it sleeps. A SIGTERM that is pending and caught but never handled
  // is a different bug from a daemon busy in its shutdown.
  [[nodiscard]] std::string still_running_report() const {
    const std::string dir = "/proc/" + std::to_string(pid_) + "/";
    std::string report = "\n--- still running; from " + dir + ":\n";
    // `keys` empty: every line of the file; otherwise only the "key:" lines named.
    const auto append_file = [&](const std::string& name,
                                 std::initializer_list<std::string_view> keys) {
      std::ifstream file(dir + name);
      for (std::string line; std::getline(file, line);) {
        const std::string_view key = std::string_view(line).substr(0, line.find(':'));
        if (keys.size() == 0 || std::find(keys.begin(), keys.end(), key) != keys.end()) {
          report += name + ": " + line + "\n";
        }
      }
    };
    append_file("status",
                {"State", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"});
    append_file("wchan", {});
    append_file("syscall", {});
    append_file("stack", {});
    return report;
  }

  pid_t pid_ = -1;
  int output_fd_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string output_;
};

}  // namespace shmbus::test
