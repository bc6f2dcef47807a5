import FoundationEssentials
import Glibc

public enum Shell {
  static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/=+-@%".utf8)

  /// `safe` as two 64-bit masks over ASCII: a Set lookup hashed every byte of
  /// every value of a grid. (A test holds the two to the same bytes.)
  static let safeMasks: (UInt64, UInt64) = {
    var m: (UInt64, UInt64) = (0, 0)
    for b in safe { if b < 64 { m.0 |= 1 << UInt64(b) } else { m.1 |= 1 << UInt64(b - 64) } }
    return m
  }()

  @inline(__always) static func isSafe(_ b: UInt8, _ m: (UInt64, UInt64)) -> Bool {
    b < 64 ? m.0 & (1 << UInt64(b)) != 0 : b < 128 && m.1 & (1 << UInt64(b - 64)) != 0
  }

  /// Single-quotes `s` for a POSIX shell unless it is made only of safe characters.
  public static func quote(_ s: String) -> String {
    // Byte test: every safe character is ASCII, so a multi-byte one is never safe.
    let m = safeMasks
    if !s.isEmpty && s.utf8.allSatisfy({ isSafe($0, m) }) { return s }
    return alwaysQuote(s)
  }

  /// Single-quotes `s` onto `out` (`'` inside becomes `'\''`).
  public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
    out.append(0x27)
    appendQuotedBody(s, to: &out)
    out.append(0x27)
  }

  /// What goes between single quotes for `s`: its bytes, each `'` as `'\''`
  /// (most values have none, and are copied at once).
  public static func appendQuotedBody(_ s: String, to out: inout [UInt8]) {
    let done = s.utf8.withContiguousStorageIfAvailable { b -> Bool in
      if b.contains(0x27) { return false }
      out.append(contentsOf: b)
      return true
    }
    if done == true { return }
    for b in s.utf8 {
      if b == 0x27 {
        out += [0x27, 0x5C, 0x27, 0x27]
      } else {
        out.append(b)
      }
    }
  }

  /// Decimal digits of `v` (no String made).
  public static func appendDigits(_ v: Int, to out: inout [UInt8]) {
    withDecimalDigits(v) { out.append(contentsOf: $0) }
  }

  /// Appends the string's UTF-8 bytes (at once where they are contiguous).
  public static func appendBytes(_ s: String, to out: inout [UInt8]) {
    if s.utf8.withContiguousStorageIfAvailable({ out.append(contentsOf: $0) }) == nil {
      out.append(contentsOf: s.utf8)
    }
  }

  /// Always single-quotes (`'` inside becomes `'\''`).
  public static func alwaysQuote(_ s: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count + 2)
    appendQuoted(s, to: &out)
    return String(decoding: out, as: UTF8.self)
  }

  /// A job or file name made safe: letters, digits, `_`, `-`, `.`; at most `max` characters.
  public static func sanitizeName(_ s: String, max: Int = 64) -> String {
    var out = ""
    for c in s {
      if c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".") {
        out.append(c)
      } else if !out.hasSuffix("_") {
        out.append("_")
      }
    }
    while out.hasPrefix(".") || out.hasPrefix("-") { out.removeFirst() }
    if out.count > max { out = String(out.prefix(max)) }
    return out.isEmpty ? "run" : out
  }
}
