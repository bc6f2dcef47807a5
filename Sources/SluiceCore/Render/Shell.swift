import Foundation

public enum Shell {
  static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:/=+-@%")

  /// Single-quotes `s` for a POSIX shell unless it is made only of safe characters.
  public static func quote(_ s: String) -> String {
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  /// Always single-quotes.
  public static func alwaysQuote(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
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
