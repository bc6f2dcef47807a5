import FoundationEssentials
import Glibc

// Small string and path operations done without Foundation's NSString bridge.
// Every sluice command starts with a handful of them (config paths, the tasks
// file's titles, temp-file names), and through NSString each first call cost
// 100,000-500,000 instructions and the page faults of Foundation's code: half of
// what a tick submitting one run executed. Each is tested against the Foundation
// call it replaces.

/// Paths as `NSString` splits and joins them, for the cases sluice meets.
public enum Path {
  /// `NSString.deletingLastPathComponent`: "/a/b" → "/a", "/a" → "/", "a" → "",
  /// repeated and trailing slashes ignored (Foundation here answers "" for "//", and
  /// traps on some one-letter names).
  public static func dirname(_ p: String) -> String {
    let u = tidied(p)
    guard let slash = u.lastIndex(of: 0x2F) else { return "" }
    return slash == 0 ? "/" : String(decoding: u[..<slash], as: UTF8.self)
  }

  /// `NSString.lastPathComponent`: "/a/b" → "b", "/a/b/" → "b", "/" → "/".
  public static func basename(_ p: String) -> String {
    let u = tidied(p)
    if u == [0x2F] { return "/" }
    guard let slash = u.lastIndex(of: 0x2F) else { return String(decoding: u, as: UTF8.self) }
    return String(decoding: u[(slash + 1)...], as: UTF8.self)
  }

  /// `p`'s bytes with each run of slashes made one and a trailing one dropped ("/" stays).
  static func tidied(_ p: String) -> [UInt8] {
    var u: [UInt8] = []
    u.reserveCapacity(p.utf8.count)
    for b in p.utf8 where !(b == 0x2F && u.last == 0x2F) { u.append(b) }
    if u.count > 1 && u.last == 0x2F { u.removeLast() }
    return u
  }

  /// An absolute path with `.`, `..` and repeated or trailing slashes resolved by
  /// name, not through the file system (`NSString.standardizingPath` for an
  /// absolute path; ".." above "/" stays at "/").
  public static func normalize(_ p: String) -> String {
    let u = Array(p.utf8)
    var out: [UInt8] = [0x2F]
    out.reserveCapacity(u.count + 1)
    var starts: [Int] = []  // where each kept component's "/" (or the first's text) begins
    var i = 0
    while i < u.count {
      while i < u.count && u[i] == 0x2F { i += 1 }
      guard i < u.count else { break }
      var j = i
      while j < u.count && u[j] != 0x2F { j += 1 }
      if j - i == 1 && u[i] == 0x2E {
        // "." names the folder itself
      } else if j - i == 2 && u[i] == 0x2E && u[i + 1] == 0x2E {
        if let k = starts.popLast() { out.removeSubrange(k...) }
      } else {
        starts.append(out.count)
        if out.count > 1 { out.append(0x2F) }
        out.append(contentsOf: u[i..<j])
      }
      i = j
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The working directory, from getcwd (FileManager's costs a Foundation start-up).
  public static func currentDirectory() -> String {
    Text.fromC(capacity: Int(PATH_MAX) + 1) { p, n in getcwd(p, n) != nil ? strlen(p) : -1 }
      ?? FileManager.default.currentDirectoryPath
  }

  /// The running executable's own path, symbolic links resolved (Linux's
  /// /proc/self/exe; elsewhere argv[0] through realpath).
  public static func executable() -> String? {
    if let p = Text.fromC(capacity: Int(PATH_MAX) + 1, { p, n in readlink("/proc/self/exe", p, n) }),
      !p.isEmpty
    {
      return p
    }
    guard let arg = CommandLine.arguments.first, let r = realpath(arg, nil) else { return nil }
    defer { free(r) }
    return String(cString: r)
  }
}

/// The process environment, read from `environ` (ProcessInfo's cost ~750,000
/// instructions to build the same dictionary). A name given twice keeps its first
/// value, as getenv does.
public enum Environment {
  public static func current() -> [String: String] {
    var env: [String: String] = [:]
    let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
    guard var p = start else { return env }
    while let entry = p.pointee {
      let s = String(cString: entry)
      if let eq = s.utf8.firstIndex(of: 0x3D) {
        let name = String(s[..<eq])
        if env[name] == nil { env[name] = String(s[s.index(after: eq)...]) }
      }
      p += 1
    }
    return env
  }
}

extension StringProtocol {
  /// Split at each line end, "\n" or "\r\n": a String splits by Character, and
  /// "\r\n" is one Character, which splitting at "\n" alone leaves whole.
  public func lines(omittingEmpty: Bool = false) -> [SubSequence] {
    split(omittingEmptySubsequences: omittingEmpty) { $0 == "\n" || $0 == "\r\n" }
  }

  /// Padded with spaces on the right to `width` characters (for help columns).
  public func padded(to width: Int) -> String {
    let n = count
    return n >= width ? String(self) : String(self) + String(repeating: " ", count: width - n)
  }

  /// Without leading and trailing white space: `trimmingCharacters(in:
  /// .whitespacesAndNewlines)`, or `.whitespaces` when `newlines` is false.
  public func trimmed(newlines: Bool = true) -> String {
    let scalars = Substring(self).unicodeScalars
    func space(_ s: Unicode.Scalar) -> Bool { Text.isSpace(s, newlines: newlines) }
    guard let first = scalars.firstIndex(where: { !space($0) }) else { return "" }
    let last = scalars.lastIndex(where: { !space($0) })!
    return String(Substring(scalars[first...last]))
  }

  /// Whether `needle`'s UTF-8 bytes appear in this text's: an exact search (no
  /// Unicode equivalence), for ASCII markers, without Foundation's `contains`,
  /// which bridged each line of a tasks file to search it.
  public func containsBytes(_ needle: String) -> Bool {
    let n = Array(needle.utf8)
    func search(_ h: UnsafeBufferPointer<UInt8>) -> Bool { Text.contains(UnsafeRawBufferPointer(h), n) }
    if let found = utf8.withContiguousStorageIfAvailable(search) { return found }
    return Array(utf8).withUnsafeBufferPointer(search)
  }

  /// Every `target` replaced by `replacement`, left to right without overlaps
  /// (`replacingOccurrences(of:with:)`).
  public func replacingAll(_ target: String, with replacement: String) -> String {
    let t = Array(target.utf8)
    let s = Array(utf8)
    guard !t.isEmpty, s.count >= t.count else { return String(self) }
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = 0
    var changed = false
    while i < s.count {
      if i + t.count <= s.count && s[i] == t[0] && s[i..<(i + t.count)].elementsEqual(t) {
        out.append(contentsOf: replacement.utf8)
        i += t.count
        changed = true
      } else {
        out.append(s[i])
        i += 1
      }
    }
    return changed ? String(decoding: out, as: UTF8.self) : String(self)
  }
}

enum Text {
  /// The text a C function writes into a buffer: `fill` gets `capacity` bytes and
  /// their count and returns how many it wrote, or a negative number for none
  /// (`getcwd`, `readlink`, `strftime`); decoded by that length, not up to a NUL.
  static func fromC(capacity: Int, _ fill: (UnsafeMutablePointer<CChar>, Int) -> Int) -> String? {
    var buf = [UInt8](repeating: 0, count: capacity)
    let n = buf.withUnsafeMutableBufferPointer { b in
      b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { fill($0, b.count) }
    }
    guard n >= 0 else { return nil }
    return String(decoding: buf[..<min(n, capacity)], as: UTF8.self)
  }

  /// Foundation's `CharacterSet.whitespacesAndNewlines`, or `.whitespaces` (the same
  /// less line and paragraph breaks) when not `newlines`: Unicode's White_Space
  /// and U+200B, as swift-corelibs-foundation has them (the tests check every scalar).
  static func isSpace(_ s: Unicode.Scalar, newlines: Bool) -> Bool {
    switch s.value {
    case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
    case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return newlines
    default: return false
    }
  }

  /// `x` with `digits` decimals, as `%.Nf` prints it (for finite, modest values).
  static func fixed(_ x: Double, digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((abs(x) * scale).rounded())
    let whole = n / Int(scale)
    let frac = String(n % Int(scale))
    let sign = x < 0 && n > 0 ? "-" : ""
    if digits == 0 { return sign + String(whole) }
    return sign + String(whole) + "." + String(repeating: "0", count: digits - frac.count) + frac
  }

  /// An ASCII letter or digit.
  static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return false
    }
  }

  /// Whether `needle` appears in `data`, byte for byte.
  static func containsBytes(_ data: Data, _ needle: [UInt8]) -> Bool {
    data.withUnsafeBytes { contains($0, needle) }
  }

  /// Whether `needle` appears in `h`, byte for byte (an empty one always does).
  static func contains(_ h: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
    guard let head = needle.first else { return true }
    guard h.count >= needle.count else { return false }
    var i = 0
    let last = h.count - needle.count
    while i <= last {
      if h[i] == head {
        var k = 1
        while k < needle.count && h[i + k] == needle[k] { k += 1 }
        if k == needle.count { return true }
      }
      i += 1
    }
    return false
  }
}
