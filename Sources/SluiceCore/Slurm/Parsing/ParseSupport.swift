import Foundation

// Shared plumbing for the Slurm output parsers: lossy decoding, exact line and
// field splitting, the skipped-line report and the parse error.

/// A line a parser could not use, kept so the caller can log it.
public struct SkippedLine: Equatable, Sendable {
  /// 1-based line number in the parsed text.
  public var lineNumber: Int
  /// The line as read (cut to 300 characters).
  public var text: String
  /// Why the line was skipped.
  public var reason: String

  public init(lineNumber: Int, text: String, reason: String) {
    self.lineNumber = lineNumber
    self.text = SlurmText.clip(text, 300)
    self.reason = reason
  }
}

/// What a line-oriented parser returns: the items it understood and the lines it skipped.
public struct SlurmParseResult<Item: Equatable & Sendable>: Equatable, Sendable {
  public var items: [Item]
  public var skipped: [SkippedLine]

  public init(items: [Item] = [], skipped: [SkippedLine] = []) {
    self.items = items
    self.skipped = skipped
  }
}

/// A Slurm output that could not be understood at all.
public struct SlurmParseError: Error, Equatable, Sendable, CustomStringConvertible {
  /// What was expected.
  public var message: String
  /// The offending input (cut to 200 characters).
  public var input: String

  public init(_ message: String, input: String) {
    self.message = message
    self.input = SlurmText.clip(input, 200)
  }

  public var description: String { "\(message): \(input.debugDescription)" }
}

/// Text helpers that work on Unicode scalars, so that separators such as U+001F or
/// a multi-byte `☃` are matched exactly, whatever characters surround them.
public enum SlurmText {
  /// Decodes command output, replacing invalid UTF-8 with U+FFFD instead of failing.
  public static func decode(_ data: Data) -> String {
    String(decoding: data, as: UTF8.self)
  }

  /// Splits text into lines at `\n`, dropping a `\r` before it. The last line is
  /// omitted when the text ends with a newline.
  public static func lines(_ text: String) -> [String] {
    var out: [String] = []
    var current = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      if scalar == "\n" {
        if current.last == "\r" { current.removeLast() }
        out.append(String(current))
        current = String.UnicodeScalarView()
      } else {
        current.append(scalar)
      }
    }
    if !current.isEmpty {
      if current.last == "\r" { current.removeLast() }
      out.append(String(current))
    }
    return out
  }

  /// Splits `text` at every exact occurrence of `separator` (scalar by scalar). Empty
  /// fields are kept. An empty separator returns the text whole.
  public static func split(_ text: String, separator: String) -> [String] {
    let sep = Array(separator.unicodeScalars)
    guard !sep.isEmpty else { return [text] }
    let scalars = Array(text.unicodeScalars)
    var out: [String] = []
    var current = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
      if scalars[i] == sep[0], i + sep.count <= scalars.count,
        Array(scalars[i..<(i + sep.count)]) == sep
      {
        out.append(String(current))
        current = String.UnicodeScalarView()
        i += sep.count
      } else {
        current.append(scalars[i])
        i += 1
      }
    }
    out.append(String(current))
    return out
  }

  /// Whether `text` contains `separator` as an exact scalar sequence.
  public static func contains(_ text: String, _ separator: String) -> Bool {
    guard !separator.isEmpty else { return false }
    return split(text, separator: separator).count > 1
  }

  /// Splits at runs of spaces and tabs, dropping empty fields.
  public static func splitWhitespace(_ text: String) -> [String] {
    var out: [String] = []
    var current = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      if isBlank(scalar) {
        if !current.isEmpty {
          out.append(String(current))
          current = String.UnicodeScalarView()
        }
      } else {
        current.append(scalar)
      }
    }
    if !current.isEmpty { out.append(String(current)) }
    return out
  }

  /// Trims spaces, tabs, `\r`, `\n` and the ASCII record separator U+001E.
  public static func trim(_ text: String) -> String {
    let scalars = Array(text.unicodeScalars)
    var start = 0
    var end = scalars.count
    while start < end, isTrimmable(scalars[start]) { start += 1 }
    while end > start, isTrimmable(scalars[end - 1]) { end -= 1 }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[start..<end])
    return String(view)
  }

  /// `nil` for the values Slurm prints when a field has no value: empty, `N/A`,
  /// `(null)`, `None`, `Unknown`, `n/a`; otherwise the trimmed text.
  public static func nonEmpty(_ text: String) -> String? {
    let t = trim(text)
    switch t.lowercased() {
    case "", "n/a", "(null)", "none", "unknown", "\"none\"", "\"unknown\"": return nil
    default: return t
    }
  }

  /// The leading run of ASCII digits as an Int (`"193000+"` → 193000), or nil.
  public static func leadingInt(_ text: String) -> Int? {
    let t = trim(text)
    var digits = ""
    for scalar in t.unicodeScalars {
      guard scalar.isASCII, ("0"..."9").contains(scalar) else { break }
      digits.unicodeScalars.append(scalar)
      if digits.count > 18 { return nil }
    }
    return digits.isEmpty ? nil : Int(digits)
  }

  /// The text as an Int if it is made only of ASCII digits (at most 18), else nil.
  public static func strictInt(_ text: String) -> Int? {
    guard !text.isEmpty, text.count <= 18,
      text.unicodeScalars.allSatisfy({ $0.isASCII && ("0"..."9").contains($0) })
    else { return nil }
    return Int(text)
  }

  /// Field-name key: lower-cased, `-`/`_`/spaces removed, width suffixes dropped
  /// (`nodehost:100` → `nodehost`, `jobid%25` → `jobid`).
  public static func fieldKey(_ name: String) -> String {
    var base = trim(name)
    if let cut = base.firstIndex(where: { $0 == ":" || $0 == "%" }) {
      base = String(base[..<cut])
    }
    return base.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " }
  }

  static func clip(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(limit)) + "…"
  }

  static func isBlank(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" }

  static func isTrimmable(_ s: Unicode.Scalar) -> Bool {
    s == " " || s == "\t" || s == "\r" || s == "\n" || s == "\u{1e}"
  }
}

/// Reads one line of column output: split by a separator when the line contains it,
/// otherwise by runs of whitespace (the fixed-width, space-padded form of `-O`).
/// Whitespace splitting is only right when no field contains a space.
public enum SlurmColumns {
  /// Fields of `line`. With a separator, fields are trimmed and one trailing empty
  /// field (from a separator after the last field) is dropped unless the count is
  /// already `expected`.
  public static func fields(_ line: String, separator: String?, expected: Int? = nil) -> [String] {
    if let sep = separator, !sep.isEmpty, SlurmText.contains(line, sep) {
      var parts = SlurmText.split(line, separator: sep).map(SlurmText.trim)
      if parts.count > 1, parts.last == "", parts.count != expected {
        parts.removeLast()
      }
      return parts
    }
    if expected == 1 { return [SlurmText.trim(line)] }
    return SlurmText.splitWhitespace(line)
  }

  /// Whether the line is only blanks.
  public static func isBlank(_ line: String) -> Bool {
    SlurmText.trim(line).isEmpty
  }

  /// Whether the line is the `CLUSTER: name` banner that `--clusters` adds.
  public static func isClusterBanner(_ line: String) -> Bool {
    SlurmText.trim(line).hasPrefix("CLUSTER: ")
  }
}
