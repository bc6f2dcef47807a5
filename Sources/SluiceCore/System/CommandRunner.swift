import FoundationEssentials
import Glibc

/// The outcome of running a program. A non-zero exit is a result, not an error.
public struct CommandResult: Sendable, Equatable {
  public var exitCode: Int32
  /// The signal that ended the program, if any.
  public var signal: Int32?
  public var stdout: Data
  public var stderr: Data
  public var timedOut: Bool
  /// Output past the limit was dropped.
  public var truncated: Bool
  public var duration: Double

  public init(
    exitCode: Int32, signal: Int32? = nil, stdout: Data = Data(), stderr: Data = Data(),
    timedOut: Bool = false, truncated: Bool = false, duration: Double = 0
  ) {
    self.exitCode = exitCode
    self.signal = signal
    self.stdout = stdout
    self.stderr = stderr
    self.timedOut = timedOut
    self.truncated = truncated
    self.duration = duration
  }

  public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
  public var succeeded: Bool { exitCode == 0 && signal == nil && !timedOut }
}

/// A request to run one program: argv only, never a shell string.
public struct CommandRequest: Sendable {
  public var argv: [String]
  public var environment: [String: String]?
  public var stdin: Data?
  public var timeout: Double
  public var outputLimit: Int
  public var workingDirectory: String?
  /// Gives the program's input once it has started, instead of `stdin`: called on
  /// the runner's thread right after the start and before a byte is written, so
  /// what must be done before the program may read its input (or the input itself)
  /// is made while the program starts up. nil ends the program (SIGKILL to its
  /// group) without giving it any input: a program started in case it was needed.
  public var lateInput: (@Sendable () -> Data?)?
  /// Sees each piece of stdout as it arrives (on the reading thread), so a caller
  /// can read a long answer while the program is still printing it. A runner may
  /// not call it (the test doubles do not): the full output is in the result anyway.
  public var onStdout: (@Sendable (Data) -> Void)?

  public init(
    argv: [String], environment: [String: String]? = nil, stdin: Data? = nil,
    timeout: Double = 30, outputLimit: Int = 64 << 20, workingDirectory: String? = nil,
    lateInput: (@Sendable () -> Data?)? = nil
  ) {
    self.lateInput = lateInput
    self.argv = argv
    self.environment = environment
    self.stdin = stdin
    self.timeout = timeout
    self.outputLimit = outputLimit
    self.workingDirectory = workingDirectory
  }
}

public enum CommandRunnerError: Error, CustomStringConvertible, Equatable {
  case notFound(String)
  case spawnFailed(String, Int32)

  public var description: String {
    switch self {
    case .notFound(let p): return "program not found: \(p)"
    case .spawnFailed(let p, let e): return "cannot start \(p): \(String(cString: strerror(e)))"
    }
  }
}

/// The seam through which sluice runs every external program.
public protocol CommandRunning: Sendable {
  func run(_ request: CommandRequest) throws -> CommandResult
}

/// Runs programs with posix_spawn in their own process group, reads stdout and
/// stderr together with poll(2) so a full pipe never blocks the child, enforces
/// a timeout (SIGTERM to the group, then SIGKILL after a grace period) and an
/// output limit.
public struct ProcessRunner: CommandRunning {
  public var killGrace: Double

  public init(killGrace: Double = 2) {
    self.killGrace = killGrace
  }

  public func run(_ request: CommandRequest) throws -> CommandResult {
    guard let program = request.argv.first else { throw CommandRunnerError.notFound("") }
    if let dir = request.workingDirectory, !Files.isDirectory(dir) {
      throw CommandRunnerError.spawnFailed(program + " (in \(dir))", ENOENT)
    }
    let start = Date()
    var outPipe: [Int32] = [0, 0]
    var errPipe: [Int32] = [0, 0]
    var inPipe: [Int32] = [0, 0]
    // Close-on-exec, so that a program started at the same time from another
    // thread does not inherit these ends: a child holding a copy of another's stdout
    // kept that one's reader waiting for its own exit (a tick's squeue and sinfo each
    // took as long as the slower of the two). dup2 onto 0/1/2 clears the flag there.
    guard glibcPipe2(&outPipe, O_CLOEXEC) == 0, glibcPipe2(&errPipe, O_CLOEXEC) == 0,
      glibcPipe2(&inPipe, O_CLOEXEC) == 0
    else {
      throw CommandRunnerError.spawnFailed(program, errno)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    for fd in inPipe + outPipe + errPipe where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    if let dir = request.workingDirectory {
      _ = sluice_addchdir(&actions, dir)
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setpgroup(&attr, 0)
    var defaultSignals = sigset_t()
    sigemptyset(&defaultSignals)
    sigaddset(&defaultSignals, SIGPIPE)
    sigaddset(&defaultSignals, SIGTERM)
    sigaddset(&defaultSignals, SIGINT)
    posix_spawnattr_setsigdefault(&attr, &defaultSignals)
    var emptyMask = sigset_t()
    sigemptyset(&emptyMask)
    posix_spawnattr_setsigmask(&attr, &emptyMask)
    posix_spawnattr_setflags(
      &attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let env = request.environment ?? Environment.current()
    let envStrings = env.map { "\($0.key)=\($0.value)" }
    var pid: pid_t = 0
    let rc = withCStrings(request.argv) { argv in
      withCStrings(envStrings) { envp in
        if program.contains("/") {
          return posix_spawn(&pid, program, &actions, &attr, argv, envp)
        }
        return posix_spawnp(&pid, program, &actions, &attr, argv, envp)
      }
    }
    close(inPipe[0])
    close(outPipe[1])
    close(errPipe[1])
    if rc != 0 {
      close(inPipe[1])
      close(outPipe[0])
      close(errPipe[0])
      if rc == ENOENT { throw CommandRunnerError.notFound(program) }
      throw CommandRunnerError.spawnFailed(program, rc)
    }

    // Feed stdin (small inputs; written fully before reading to keep this simple
    // would risk deadlock, so it is written in the poll loop).
    var input = request.stdin ?? Data()
    if let late = request.lateInput {
      if let given = late() {
        input = given
      } else {
        kill(-pid, SIGKILL)
        input = Data()
      }
    }
    // The timeout counts from when the program has its input: one started early may
    // wait for it for as long as the work before it takes (a slow sync, say).
    let deadline = Date().addingTimeInterval(request.timeout)
    var inFD: Int32 = inPipe[1]
    if input.isEmpty {
      close(inFD)
      inFD = -1
    } else {
      _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
    }

    var stdout = Data()
    var stderr = Data()
    var truncated = false
    var timedOut = false
    var openOut = true
    var openErr = true
    var killAt: Date?
    var buffer = [UInt8](repeating: 0, count: 65536)
    // Past the deadline: SIGTERM to the whole process group, SIGKILL after the grace.
    func enforceDeadline(_ now: Date) {
      if !timedOut && now >= deadline {
        timedOut = true
        kill(-pid, SIGTERM)
        killAt = now.addingTimeInterval(killGrace)
      }
      if let k = killAt, now >= k {
        kill(-pid, SIGKILL)
        killAt = nil
      }
    }

    while openOut || openErr {
      var fds: [pollfd] = []
      if openOut { fds.append(pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)) }
      if openErr { fds.append(pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)) }
      if inFD >= 0 { fds.append(pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0)) }
      let now = Date()
      enforceDeadline(now)
      let wait = timedOut ? (killAt?.timeIntervalSince(now) ?? 0.2) : deadline.timeIntervalSince(now)
      let ms = Int32(max(10, min(wait * 1000, 1000)))
      let n = poll(&fds, nfds_t(fds.count), ms)
      if n < 0 {
        if errno == EINTR { continue }
        break
      }
      for f in fds where f.revents != 0 {
        if f.fd == inFD {
          let written = input.withUnsafeBytes { raw in write(inFD, raw.baseAddress, raw.count) }
          if written > 0 { input.removeFirst(written) }
          if written < 0 && errno != EAGAIN || input.isEmpty {
            close(inFD)
            inFD = -1
          }
          continue
        }
        let count = read(f.fd, &buffer, buffer.count)
        if count <= 0 {
          if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
          if f.fd == outPipe[0] { openOut = false } else { openErr = false }
          continue
        }
        let isOut = f.fd == outPipe[0]
        let current = isOut ? stdout.count : stderr.count
        let room = max(0, request.outputLimit - current)
        if room < count { truncated = true }
        if room > 0 {
          let chunk = Data(buffer[0..<min(room, count)])
          if isOut {
            stdout.append(chunk)
            request.onStdout?(chunk)
          } else {
            stderr.append(chunk)
          }
        }
      }
    }
    if inFD >= 0 { close(inFD) }
    close(outPipe[0])
    close(errPipe[0])

    // Both pipes closed: the program (or everything holding them) is gone or
    // detached. Reap it, still honouring the deadline.
    // A program usually exits within a fraction of a millisecond of closing its
    // output, so the pauses start at 20 µs and double up to 2 ms (a fixed 2 ms
    // pause was most of the wait for a quick squeue).
    var status: Int32 = 0
    var pause: UInt32 = 20
    while true {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { break }
      if r < 0 && errno != EINTR { break }
      let now = Date()
      enforceDeadline(now)
      usleep(pause)
      pause = min(pause * 2, 2000)
    }
    var exitCode: Int32 = 0
    var signal: Int32?
    if status & 0x7f == 0 {
      exitCode = (status >> 8) & 0xff
    } else {
      signal = status & 0x7f
      exitCode = 128 + (status & 0x7f)
    }
    return CommandResult(
      exitCode: exitCode, signal: signal, stdout: stdout, stderr: stderr, timedOut: timedOut,
      truncated: truncated, duration: Date().timeIntervalSince(start))
  }
}

func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
  var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
  pointers.append(nil)
  defer { for p in pointers { free(p) } }
  return body(pointers)
}

/// glibc's pipe2 (since 2.9), which the Glibc module does not export.
@_silgen_name("pipe2")
private func glibcPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func sluice_addchdir(
  _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>
) -> Int32
