import FoundationEssentials
import Glibc

public struct FileError: Error, CustomStringConvertible, Equatable {
  public var path: String
  public var message: String
  public init(_ path: String, _ message: String) {
    self.path = path
    self.message = message
  }
  public var description: String { "\(path): \(message)" }
  static func errno(_ path: String, _ what: String) -> FileError {
    FileError(path, "\(what): \(String(cString: strerror(Glibc.errno)))")
  }
}

/// How far a write must have reached before `writeAtomically` returns.
public enum Durability: Sendable {
  /// On stable storage: the file and its folder fsynced.
  case synced
  /// Whole or not at all (temp file + rename), not yet forced to disk: a crash
  /// of the machine may bring back the previous version, never a mix. For files
  /// the next tick rebuilds from Slurm anyway.
  case ordered
}

/// File operations that are safe on NFS home folders: every write goes to a
/// temporary file in the same folder, is fsynced (unless `.ordered`), then
/// renamed over the target; the folder is fsynced after. Nothing relies on O_APPEND.
public enum Files {
  public static func exists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
  }

  public static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
  }

  public static func read(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw FileError.errno(path, "cannot open") }
    defer { close(fd) }
    return try readAll(fd, name: path)
  }

  /// What is left to read from `fd`, to its end (`name` for errors).
  public static func readAll(_ fd: Int32, name: String) throws -> Data {
    // One buffer of the file's size (plus room to see it grow), read straight into.
    var st = stat()
    let size = fstat(fd, &st) == 0 && st.st_size > 0 ? Int(st.st_size) : 0
    var data = Data(count: size + 4096)
    var used = 0
    while true {
      if used == data.count { data.count += max(1 << 16, used) }
      let n = data.withUnsafeMutableBytes { raw in
        Glibc.read(fd, raw.baseAddress! + used, raw.count - used)
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw FileError.errno(name, "cannot read")
      }
      if n == 0 { break }
      used += n
    }
    data.count = used
    return data
  }

  public static func readText(_ path: String) throws -> String {
    String(decoding: try read(path), as: UTF8.self)
  }

  /// Writes `data` to `path` atomically: temp file + fsync + rename + fsync(dir)
  /// (`.ordered`: no fsyncs).
  public static func writeAtomically(
    _ path: String, _ data: Data, mode: mode_t = 0o600, durability: Durability = .synced
  ) throws {
    try data.withUnsafeBytes { try writeAtomically(path, pieces: [$0], mode: mode, durability: durability) }
  }

  /// Buffers written one after another as they are (no copy into a `Data` first:
  /// for 1,000 runs' state that copy was half a megabyte of new pages).
  public static func writeAtomically(
    _ path: String, buffers: [ByteBuffer], mode: mode_t = 0o600, durability: Durability = .synced
  ) throws {
    try withExtendedLifetime(buffers) {
      try writeAtomically(
        path, pieces: buffers.map { UnsafeRawBufferPointer(start: $0.base, count: $0.count) }, mode: mode,
        durability: durability)
    }
  }

  /// `pieces` one after another, as one file.
  public static func writeAtomically(
    _ path: String, pieces: [UnsafeRawBufferPointer], mode: mode_t = 0o600, durability: Durability = .synced
  ) throws {
    let dir = Path.dirname(path)
    let base = Path.basename(path)
    let tmp = (dir.isEmpty ? "." : dir) + "/.\(base).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    if fd < 0 { throw FileError.errno(tmp, "cannot create") }
    var ok = false
    defer {
      if !ok { unlink(tmp) }
    }
    do {
      defer { close(fd) }
      _ = fchmod(fd, mode)
      for raw in pieces where raw.count > 0 {
        var offset = 0
        while offset < raw.count {
          let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
          if n < 0 {
            if errno == EINTR { continue }
            throw FileError.errno(tmp, "cannot write")
          }
          offset += n
        }
      }
      if durability == .synced, fsync(fd) != 0 { throw FileError.errno(tmp, "cannot fsync") }
    }
    if rename(tmp, path) != 0 { throw FileError.errno(path, "cannot rename into place") }
    ok = true
    if durability == .synced { syncDirectory(dir.isEmpty ? "." : dir) }
  }

  public static func writeAtomically(
    _ path: String, text: String, mode: mode_t = 0o600, durability: Durability = .synced
  ) throws {
    try writeAtomically(path, Data(text.utf8), mode: mode, durability: durability)
  }

  /// Sets a file's modification time to `time`, creating the file empty if needed:
  /// one call (one NFS SETATTR) to note when something happened.
  public static func touch(_ path: String, time: Date, mode: mode_t = 0o600) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode)
    if fd < 0 { throw FileError.errno(path, "cannot open") }
    defer { close(fd) }
    let t = time.timeIntervalSince1970
    let spec = timespec(tv_sec: Int(t.rounded(.down)), tv_nsec: Int((t - t.rounded(.down)) * 1e9))
    var times = [spec, spec]
    if futimens(fd, &times) != 0 { throw FileError.errno(path, "cannot set its time") }
  }

  /// A file's modification time, nil if it does not exist.
  public static func modified(_ path: String) -> Date? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
  }

  static func syncDirectory(_ dir: String) {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      close(fd)
    }
  }

  /// Creates a folder and its parents with the given mode.
  public static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws {
    if isDirectory(path) { return }
    let parent = Path.dirname(path)
    if !parent.isEmpty && parent != path && !isDirectory(parent) {
      try makeDirectory(parent, mode: mode)
    }
    if mkdir(path, mode) != 0 && errno != EEXIST {
      throw FileError.errno(path, "cannot create folder")
    }
    _ = chmod(path, mode)
  }

  /// The names in `dir` (without `.` and `..`), sorted; none if it cannot be read.
  public static func list(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  public static func remove(_ path: String) {
    unlink(path)
  }

  /// Modification time in seconds since 1970, or nil.
  public static func modificationTime(_ path: String) -> Double? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
  }

  /// `path` made absolute against `base` (or the working directory), normalized by
  /// name (`Path.normalize`).
  public static func absolute(_ path: String, relativeTo base: String? = nil) -> String {
    if path.hasPrefix("/") { return Path.normalize(path) }
    return Path.normalize((base ?? Path.currentDirectory()) + "/" + path)
  }
}

/// The clock seam: the only place sluice asks what time it is.
public protocol Clock: Sendable {
  func now() -> Date
}

public struct SystemClock: Clock {
  public init() {}
  public func now() -> Date { Date() }
}

public final class FixedClock: Clock, @unchecked Sendable {
  private let lock = Lock()
  private var current: Date
  public init(_ date: Date) { current = date }
  public func now() -> Date { lock.withLock { current } }
  public func advance(_ seconds: Double) { lock.withLock { current += seconds } }
}

public enum Timestamps {
  // The format styles (FoundationEssentials, no ICU) only for what the hand-written
  // paths below do not take.
  static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
  static let whole = Date.ISO8601FormatStyle()

  /// The seconds since 1970 that are years 1970...9999, the ones written by hand.
  public static let handWritten: Range<Double> = 0..<253_402_300_799

  /// `t` if it is such a time (finite, 1970...9999), else nil: for times read from
  /// files that others write.
  public static func epoch(_ t: Double?) -> Double? {
    guard let t, handWritten.contains(t) else { return nil }
    return t
  }

  /// `2026-12-01T19:55:14.360Z`: UTC, milliseconds, written by hand (the
  /// formatter costs a few ms to make and ~20 µs a call); the formatter only
  /// for years outside 1970...9999.
  public static func iso(_ date: Date) -> String {
    let t = date.timeIntervalSince1970
    guard handWritten.contains(t) else { return fractional.format(date) }
    let ms = Int((t * 1000 + 0.5).rounded(.down))  // to the nearest ms, as the formatter does
    let secs = ms / 1000
    let days = secs / 86400
    let rem = secs % 86400
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468
    let era = z / 146097
    let doe = z - era * 146097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    var b: [UInt8] = []
    b.reserveCapacity(24)
    func put(_ v: Int, _ width: Int) {
      var div = 1
      for _ in 1..<width { div *= 10 }
      var v = v
      while div > 0 {
        b.append(UInt8(0x30 + v / div))
        v %= div
        div /= 10
      }
    }
    put(y, 4)
    b.append(0x2D)
    put(m, 2)
    b.append(0x2D)
    put(d, 2)
    b.append(0x54)
    put(rem / 3600, 2)
    b.append(0x3A)
    put(rem / 60 % 60, 2)
    b.append(0x3A)
    put(rem % 60, 2)
    b.append(0x2E)
    put(ms % 1000, 3)
    b.append(0x5A)
    return String(decoding: b, as: UTF8.self)
  }

  /// Parses what `iso` writes (`2026-12-01T19:55:14.360Z`, also without
  /// fractions or with a `+HH:MM` offset) by hand: ICU's formatter costs
  /// ~0.1 ms a call, too slow for a tick over 1,000 runs.
  public static func parse(_ s: String) -> Date? {
    if let d = fastParse(s) { return d }
    return (try? fractional.parse(s)) ?? (try? whole.parse(s))
  }

  static func fastParse(_ s: String) -> Date? {
    let b = Array(s.utf8)
    guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A else {
      return nil
    }
    func num(_ from: Int, _ len: Int) -> Int? {
      var n = 0
      for k in from..<(from + len) {
        let c = b[k]
        guard c >= 0x30 && c <= 0x39 else { return nil }
        n = n * 10 + Int(c - 0x30)
      }
      return n
    }
    guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2),
      let se = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61
    else { return nil }
    var i = 19
    var frac = 0.0
    if i < b.count && b[i] == 0x2E {
      i += 1
      var scale = 0.1
      while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 {
        frac += Double(b[i] - 0x30) * scale
        scale /= 10
        i += 1
      }
    }
    var offset = 0
    if i < b.count && b[i] == 0x5A {
      i += 1
    } else if i + 6 == b.count, b[i] == 0x2B || b[i] == 0x2D, b[i + 3] == 0x3A, let oh = num(i + 1, 2),
      let om = num(i + 4, 2)
    {
      offset = (oh * 3600 + om * 60) * (b[i] == 0x2B ? 1 : -1)
      i += 6
    } else {
      return nil
    }
    guard i == b.count else { return nil }
    // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    let seconds = days * 86400 + h * 3600 + mi * 60 + se - offset
    return Date(timeIntervalSince1970: Double(seconds) + frac)
  }
}
