import FoundationEssentials
import Glibc

/// A value in the TOML subset sluice reads.
public enum TOMLValue: Equatable, Sendable {
  case string(String)
  case integer(Int)
  case boolean(Bool)
  case array([String])

  public var typeName: String {
    switch self {
    case .string: return "a string"
    case .integer: return "an integer"
    case .boolean: return "a boolean"
    case .array: return "an array of strings"
    }
  }
}

/// One `key = value` with where it was written.
public struct TOMLEntry: Equatable, Sendable {
  public var value: TOMLValue
  public var line: Int
}

/// A small TOML subset: `[table]` headers, `key = value` with strings (basic and
/// literal), integers, booleans and arrays of strings (may span lines), and
/// comments. Anything else is an error naming the line.
public enum TOML {
  /// Table name ("" for the top level) → key → entry.
  public typealias Document = [String: [String: TOMLEntry]]

  public static func parse(_ text: String, path: String) throws -> Document {
    var doc: Document = ["": [:]]
    var table = ""
    // Split and trimmed without Foundation's bridging (what it trims, the same).
    // A byte-order mark (some Windows editors write one) is not text.
    let lines = (text.hasPrefix("\u{FEFF}") ? text.dropFirst() : Substring(text)).lines().map(String.init)
    var i = 0
    func fail(_ line: Int, _ msg: String) -> DiagnosticsError {
      DiagnosticsError([Diagnostic(file: path, line: line, severity: .error, message: msg)])
    }
    while i < lines.count {
      let number = i + 1
      var line = lines[i].trimmed(newlines: false)
      if line.hasSuffix("\r") { line.removeLast() }
      i += 1
      line = stripComment(line).trimmed(newlines: false)
      if line.isEmpty { continue }
      if line.hasPrefix("[") {
        guard line.hasSuffix("]"), !line.hasPrefix("[[") else {
          throw fail(number, "malformed table header '\(line)'; write '[name]'")
        }
        let name = line.dropFirst().dropLast().trimmed(newlines: false)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) else {
          throw fail(number, "bad table name '\(name)'; use letters, digits, '_' and '-'")
        }
        if doc[name] != nil && name != "" {
          throw fail(number, "table [\(name)] appears twice; merge them")
        }
        table = name
        doc[name] = [:]
        continue
      }
      guard let eq = line.firstIndex(of: "=") else {
        throw fail(number, "expected 'key = value', found '\(line)'")
      }
      var key = line[..<eq].trimmed(newlines: false)
      if key.count >= 2 && key.hasPrefix("\"") && key.hasSuffix("\"") {
        key = String(key.dropFirst().dropLast())
      }
      guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "_-".contains($0) }) else {
        throw fail(number, "bad key '\(key)'; use letters, digits, '_' and '-'")
      }
      var raw = line[line.index(after: eq)...].trimmed(newlines: false)
      // Arrays may continue over several lines until the closing bracket.
      if raw.hasPrefix("[") {
        while !arrayClosed(raw) && i < lines.count {
          raw += " " + stripComment(lines[i]).trimmed(newlines: false)
          i += 1
        }
      }
      let value: TOMLValue
      do {
        value = try parseValue(raw)
      } catch let e as ValueError {
        throw fail(number, "\(key): \(e.message)")
      }
      if doc[table]![key] != nil {
        throw fail(number, "key '\(key)' is set twice in [\(table.isEmpty ? "top level" : table)]")
      }
      doc[table]![key] = TOMLEntry(value: value, line: number)
    }
    return doc
  }

  struct ValueError: Error { var message: String }

  static func stripComment(_ line: String) -> String {
    var inBasic = false
    var inLiteral = false
    var escaped = false
    var out = ""
    for c in line {
      if escaped {
        escaped = false
        out.append(c)
        continue
      }
      if inBasic && c == "\\" {
        escaped = true
        out.append(c)
        continue
      }
      if c == "\"" && !inLiteral { inBasic.toggle() }
      if c == "'" && !inBasic { inLiteral.toggle() }
      if c == "#" && !inBasic && !inLiteral { break }
      out.append(c)
    }
    return out
  }

  static func arrayClosed(_ s: String) -> Bool {
    var depth = 0
    var inString: Character?
    var escaped = false
    for c in s {
      if escaped {
        escaped = false
        continue
      }
      if let q = inString {
        if c == "\\" && q == "\"" { escaped = true } else if c == q { inString = nil }
        continue
      }
      if c == "\"" || c == "'" {
        inString = c
      } else if c == "[" {
        depth += 1
      } else if c == "]" {
        depth -= 1
        if depth == 0 { return true }
      }
    }
    return false
  }

  static func parseValue(_ raw: String) throws -> TOMLValue {
    if raw.isEmpty { throw ValueError(message: "missing value") }
    if raw == "true" { return .boolean(true) }
    if raw == "false" { return .boolean(false) }
    if raw.hasPrefix("\"") || raw.hasPrefix("'") {
      let (s, rest) = try parseString(Substring(raw))
      if !rest.trimmed(newlines: false).isEmpty {
        throw ValueError(message: "unexpected text after the string: '\(rest)'")
      }
      return .string(s)
    }
    if raw.hasPrefix("[") {
      var rest = Substring(raw.dropFirst())
      var items: [String] = []
      while true {
        rest = rest.drop(while: { $0 == " " || $0 == "\t" })
        if rest.hasPrefix("]") {
          rest = rest.dropFirst()
          break
        }
        if rest.isEmpty { throw ValueError(message: "array is not closed with ']'") }
        guard rest.hasPrefix("\"") || rest.hasPrefix("'") else {
          throw ValueError(message: "arrays hold strings only; quote each item")
        }
        let (s, after) = try parseString(rest)
        items.append(s)
        rest = after.drop(while: { $0 == " " || $0 == "\t" })
        if rest.hasPrefix(",") {
          rest = rest.dropFirst()
        } else if !rest.hasPrefix("]") {
          throw ValueError(message: "expected ',' or ']' in the array")
        }
      }
      if !rest.trimmed(newlines: false).isEmpty {
        throw ValueError(message: "unexpected text after the array")
      }
      return .array(items)
    }
    let digits = raw.replacingAll("_", with: "")
    if let n = Int(digits) { return .integer(n) }
    throw ValueError(
      message:
        "'\(raw)' is not a value sluice reads; use \"text\", a whole number, true/false or [\"a\", \"b\"]")
  }

  static func parseString(_ s: Substring) throws -> (String, Substring) {
    let quote = s.first!
    var out = ""
    var i = s.index(after: s.startIndex)
    while i < s.endIndex {
      let c = s[i]
      if c == quote { return (out, s[s.index(after: i)...]) }
      if c == "\\" && quote == "\"" {
        i = s.index(after: i)
        guard i < s.endIndex else { break }
        switch s[i] {
        case "n": out.append("\n")
        case "t": out.append("\t")
        case "\\": out.append("\\")
        case "\"": out.append("\"")
        case "r": out.append("\r")
        default: throw ValueError(message: "unknown escape '\\\(s[i])' in a string")
        }
      } else {
        out.append(c)
      }
      i = s.index(after: i)
    }
    throw ValueError(message: "string is not closed")
  }
}
