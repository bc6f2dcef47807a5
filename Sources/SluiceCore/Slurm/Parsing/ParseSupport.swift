import FoundationEssentials
import Glibc

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
    let bytes = Array(text.utf8)
    var out: [String] = []
    var start = 0
    for i in bytes.indices where bytes[i] == 0x0A {
      out.append(string(bytes, start, i > start && bytes[i - 1] == 0x0D ? i - 1 : i))
      start = i + 1
    }
    if start < bytes.count {
      let end = bytes[bytes.count - 1] == 0x0D ? bytes.count - 1 : bytes.count
      out.append(string(bytes, start, end))
    }
    return out
  }

  /// Splits `text` at every exact occurrence of `separator`. Matching is on UTF-8
  /// bytes, which for valid UTF-8 is matching on scalars: a separator is found even
  /// when a combining mark follows it. Empty fields are kept. An empty separator
  /// returns the text whole.
  public static func split(_ text: String, separator: String) -> [String] {
    let sep = Array(separator.utf8)
    guard let first = sep.first else { return [text] }
    let bytes = Array(text.utf8)
    var out: [String] = []
    var start = 0
    var i = 0
    while i + sep.count <= bytes.count {
      if bytes[i] == first, sep.count == 1 || bytes[i..<(i + sep.count)].elementsEqual(sep) {
        out.append(string(bytes, start, i))
        i += sep.count
        start = i
      } else {
        i += 1
      }
    }
    out.append(string(bytes, start, bytes.count))
    return out
  }

  /// Whether `text` contains `separator` (exact UTF-8 match).
  public static func contains(_ text: String, _ separator: String) -> Bool {
    let sep = Array(separator.utf8)
    guard let first = sep.first else { return false }
    if sep.count == 1 { return text.utf8.contains(first) }
    let bytes = Array(text.utf8)
    var i = 0
    while i + sep.count <= bytes.count {
      if bytes[i] == first, bytes[i..<(i + sep.count)].elementsEqual(sep) { return true }
      i += 1
    }
    return false
  }

  /// Splits at runs of spaces and tabs, dropping empty fields.
  public static func splitWhitespace(_ text: String) -> [String] {
    let bytes = Array(text.utf8)
    var out: [String] = []
    var start: Int?
    for i in bytes.indices {
      if bytes[i] == 0x20 || bytes[i] == 0x09 {
        if let s = start {
          out.append(string(bytes, s, i))
          start = nil
        }
      } else if start == nil {
        start = i
      }
    }
    if let s = start { out.append(string(bytes, s, bytes.count)) }
    return out
  }

  /// Trims spaces, tabs, `\r`, `\n` and the ASCII record separator U+001E.
  public static func trim(_ text: String) -> String {
    // Fast path: nothing to trim (most fields), no copy.
    guard let f = text.utf8.first, let l = text.utf8.last else { return text }
    if !isEdge(f) && !isEdge(l) { return text }
    let bytes = Array(text.utf8)
    var start = 0
    var end = bytes.count
    while start < end, isEdge(bytes[start]) { start += 1 }
    while end > start, isEdge(bytes[end - 1]) { end -= 1 }
    if start == 0, end == bytes.count { return text }
    return string(bytes, start, end)
  }

  /// What `trim` removes: space, tab, `\r`, `\n`, U+001E.
  static func isEdge(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A || b == 0x1E }

  /// The words Slurm prints for "no value" (besides nothing at all), lower-cased.
  static let nullWords: [[UInt8]] = ["n/a", "(null)", "none", "unknown", "\"none\"", "\"unknown\""].map {
    Array($0.utf8)
  }

  static func isNullWord(lowercased t: String) -> Bool {
    t.isEmpty || nullWords.contains { $0.elementsEqual(t.utf8) }
  }

  /// The same test on bytes, any ASCII case, without making a String (the fast
  /// squeue reader asks it several times a line).
  static func isNullWord(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
    if b.isEmpty { return true }
    for word in nullWords where word.count == b.count {
      var k = 0
      while k < word.count {
        let c = b[k]
        if (c >= 0x41 && c <= 0x5A ? c + 0x20 : c) != word[k] { break }
        k += 1
      }
      if k == word.count { return true }
    }
    return false
  }

  /// Plain ASCII digits (1 to 18 of them) as an Int.
  static func digits<C: Collection<UInt8>>(_ bytes: C) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
    var n = 0
    for c in bytes {
      guard c >= 0x30 && c <= 0x39 else { return nil }
      n = n * 10 + Int(c - 0x30)
    }
    return n
  }

  static func string(_ bytes: [UInt8], _ from: Int, _ to: Int) -> String {
    String(decoding: bytes[from..<to], as: UTF8.self)
  }

  /// `nil` for the values Slurm prints when a field has no value: empty, `N/A`,
  /// `(null)`, `None`, `Unknown`, `n/a`; otherwise the trimmed text.
  public static func nonEmpty(_ text: String) -> String? {
    let t = trim(text)
    return isNullWord(lowercased: t.lowercased()) ? nil : t
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
  public static func strictInt(_ text: String) -> Int? { digits(text.utf8) }

  /// Field-name key: lower-cased, `-`/`_`/spaces removed, width suffixes dropped
  /// (`nodehost:100` → `nodehost`, `jobid%25` → `jobid`).
  public static func fieldKey(_ name: String) -> String {
    var base = trim(name)
    if let cut = base.firstIndex(where: { $0 == ":" || $0 == "%" }) {
      base = String(base[..<cut])
    }
    return base.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " }
  }

  /// ASCII upper case, without the full Unicode case mapping when the text is ASCII
  /// (Slurm's state words always are).
  public static func upperASCII(_ text: String) -> String {
    var needs = false
    for b in text.utf8 {
      if b >= 0x80 { return text.uppercased() }
      if b >= 0x61 && b <= 0x7A { needs = true }
    }
    guard needs else { return text }
    return String(decoding: text.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }, as: UTF8.self)
  }

  static func clip(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(limit)) + "…"
  }

  static func isBlank(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" }
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
