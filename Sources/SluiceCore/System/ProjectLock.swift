import FoundationEssentials
import Glibc

/// Who holds (or held) the project lock.
public struct LockHolder: Equatable, Sendable, CustomStringConvertible {
  public var host: String
  public var pid: Int32
  public var started: String
  public var command: String

  public var description: String { "\(command) (pid \(pid) on \(host), since \(started))" }

  var line: String { "host=\(host) pid=\(pid) started=\(started) command=\(command)\n" }

  static func parse(_ text: String) -> LockHolder? {
    var fields: [String: String] = [:]
    for part in text.trimmed().split(separator: " ") {
      if let eq = part.firstIndex(of: "=") {
        fields[String(part[..<eq])] = String(part[part.index(after: eq)...])
      }
    }
    guard let host = fields["host"], let pid = fields["pid"].flatMap({ Int32($0) }) else {
      return nil
    }
    return LockHolder(
      host: host, pid: pid, started: fields["started"] ?? "?", command: fields["command"] ?? "sluice")
  }
}

public enum LockError: Error, CustomStringConvertible, Equatable {
  case busy(path: String, holder: LockHolder?)
  case io(FileError)

  public var description: String {
    switch self {
    case .busy(let path, let holder):
      if let h = holder { return "another sluice holds the lock \(path): \(h)" }
      return "another sluice holds the lock \(path)"
    case .io(let e): return e.description
    }
  }
}

/// The project lock: `flock` on a descriptor opened for writing, with the
/// holder's host, pid and start time written inside so that a lock left by a
/// dead process is recognised and recovered with a message. The file itself
/// is never deleted (deleting a lock file races with the next taker).
public final class ProjectLock {
  public let path: String
  private var fd: Int32 = -1
  /// Set when the previous holder ended without releasing (crash, kill -9).
  public private(set) var recoveredFrom: LockHolder?

  public init(path: String) {
    self.path = path
  }

  deinit { release() }

  static func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    gethostname(&buf, buf.count)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Takes the lock. With `wait > 0`, retries for that many seconds.
  public func acquire(command: String, wait: Double = 0, clock: Clock = SystemClock()) throws {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    if fd < 0 { throw LockError.io(FileError.errno(path, "cannot open lock file")) }
    let deadline = Date().addingTimeInterval(wait)
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let err = errno
      if err == EINTR { continue }
      if err != EWOULDBLOCK {
        close(fd)
        throw LockError.io(FileError(path, "cannot lock: \(String(cString: strerror(err)))"))
      }
      if Date() >= deadline {
        let holder = LockHolder.parse((try? Files.readText(path)) ?? "")
        close(fd)
        throw LockError.busy(path: path, holder: holder)
      }
      usleep(50_000)
    }
    // We hold it. Anything written inside is from a holder that died.
    let previous = (try? Files.readText(path)) ?? ""
    if let old = LockHolder.parse(previous) { recoveredFrom = old }
    let me = LockHolder(
      host: Self.hostName(), pid: getpid(), started: Timestamps.iso(clock.now()),
      command: command.replacingAll(" ", with: "_"))
    _ = ftruncate(fd, 0)
    let bytes = Array(me.line.utf8)
    // No fsync: the holder note is advice for people; the flock is the lock, and
    // a crash releases it anyway. (fsync here cost ~10 ms a tick.)
    _ = pwrite(fd, bytes, bytes.count, 0)
    self.fd = fd
  }

  public func release() {
    guard fd >= 0 else { return }
    _ = ftruncate(fd, 0)
    flock(fd, LOCK_UN)
    close(fd)
    fd = -1
  }

  public var isHeld: Bool { fd >= 0 }
}
