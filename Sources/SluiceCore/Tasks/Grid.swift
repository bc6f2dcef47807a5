import FoundationEssentials
import Glibc

/// Parameter grids: `lr = 1e-3, 3e-4; seed = 0, 1` and `{name}` placeholders.
public enum Grid {
  public enum ParseResult: Equatable {
    case success([GridParameter])
    case failure(String)
  }

  public static func parse(_ text: String) -> ParseResult {
    var params: [GridParameter] = []
    // ASCII (the usual case, and a 1,000-value grid is long): split the bytes;
    // otherwise by characters, where a ';' or ',' with a combining mark is not one.
    let ascii = text.utf8.allSatisfy { $0 < 0x80 }
    let parts =
      ascii
      ? text.utf8.split(separator: 0x3B, omittingEmptySubsequences: false).map { Substring($0) }
      : text.split(separator: ";", omittingEmptySubsequences: false)
    for part in parts {
      let p = part.trimmed(newlines: false)
      if p.isEmpty {
        if parts.count == 1 {
          return .failure("empty grid; write e.g. '- grid: lr = 1e-3, 1e-4; seed = 0, 1'")
        }
        continue
      }
      guard let eq = p.firstIndex(of: "=") else {
        return .failure("grid part '\(p)' has no '='; write 'name = v1, v2'")
      }
      let name = p[..<eq].trimmed(newlines: false)
      guard Validate.placeholderName(name) else {
        return .failure(
          "grid name '\(name)' must start with a letter or '_' and use letters, digits and '_'")
      }
      if params.contains(where: { $0.name == name }) {
        return .failure("grid parameter '\(name)' is given twice; merge its values")
      }
      let list = p[p.index(after: eq)...]
      let values =
        ascii
        ? list.utf8.split(separator: 0x2C, omittingEmptySubsequences: false).map { b -> String in
          // The ASCII blanks trimmed on the bytes, then one copy.
          var lo = b.startIndex
          var hi = b.endIndex
          while lo < hi && (b[lo] == 0x20 || b[lo] == 0x09) { lo = b.index(after: lo) }
          while hi > lo && (b[b.index(before: hi)] == 0x20 || b[b.index(before: hi)] == 0x09) {
            hi = b.index(before: hi)
          }
          return String(Substring(b[lo..<hi]))
        }
        : list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmed(newlines: false) }
      if values.contains(where: \.isEmpty) {
        return .failure("grid parameter '\(name)' has an empty value; write 'name = v1, v2'")
      }
      if Set(values).count != values.count {
        return .failure("grid parameter '\(name)' repeats a value; each value once")
      }
      for v in values where v.utf8.contains(where: { $0 == 0x0A || $0 == 0 }) {
        return .failure("grid value '\(v)' must be on one line")
      }
      params.append(GridParameter(name: name, values: values))
    }
    if params.isEmpty { return .failure("empty grid; write e.g. '- grid: lr = 1e-3, 1e-4'") }
    if let too = tooBig(params) { return .failure(too) }
    return .success(params)
  }

  /// The most runs one grid may make: past it (a value list pasted twice over, a
  /// parameter too many) sluice would track, and Slurm queue, more than either is
  /// made for, and a product past Int's range would not even be a number.
  public static let maxRuns = 100_000

  /// How many runs `grid` makes; nil past `maxRuns` (counted without overflowing).
  public static func size(_ grid: [GridParameter]) -> Int? {
    var n = 1
    for p in grid {
      let (m, overflow) = n.multipliedReportingOverflow(by: p.values.count)
      if overflow || m > maxRuns { return nil }
      n = m
    }
    return n
  }

  /// The error for a grid past `maxRuns`, or nil.
  public static func tooBig(_ grid: [GridParameter]) -> String? {
    guard size(grid) == nil else { return nil }
    return "the grid makes " + grid.map { String($0.values.count) }.joined(separator: " × ")
      + " runs, more than the \(maxRuns) one task may have; split it over tasks or use fewer values"
  }

  /// Placeholder names used in a command: `{name}`, not `${name}`, not `{{name}}`.
  public static func placeholders(in command: String) -> [String] {
    var out: [String] = []
    scan(command) { token in
      if case .placeholder(let n) = token, !out.contains(n) { out.append(n) }
    }
    return out
  }

  enum Token {
    case text(String)
    case placeholder(String)
  }

  static func scan(_ s: String, _ emit: (Token) -> Void) {
    let chars = Array(s)
    var i = 0
    var text = ""
    while i < chars.count {
      let c = chars[i]
      if c == "{" && i + 1 < chars.count && chars[i + 1] == "{" {
        text.append("{")
        i += 2
        continue
      }
      if c == "}" && i + 1 < chars.count && chars[i + 1] == "}" {
        text.append("}")
        i += 2
        continue
      }
      if c == "{" && (i == 0 || chars[i - 1] != "$") {
        var j = i + 1
        while j < chars.count && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_") {
          j += 1
        }
        let name = String(chars[(i + 1)..<j])
        if j < chars.count && chars[j] == "}" && Validate.placeholderName(name) {
          if !text.isEmpty { emit(.text(text)) }
          text = ""
          emit(.placeholder(name))
          i = j + 1
          continue
        }
      }
      text.append(c)
      i += 1
    }
    if !text.isEmpty { emit(.text(text)) }
  }

  /// Fills placeholders. Values are inserted as written: they come from the
  /// user's own plan, like the command itself.
  public static func fill(_ command: String, with values: [String: String]) -> String {
    substitute(tokens(command)) { values[$0] }
  }

  /// The command for one configuration: values shell-quoted where they need it.
  public static func command(_ template: String, for values: [(String, String)]) -> String {
    command(tokens(template), for: values)
  }

  /// A command template read once, to fill for many configurations.
  static func tokens(_ template: String) -> [Token] {
    var out: [Token] = []
    scan(template) { out.append($0) }
    return out
  }

  static func command(_ tokens: [Token], for values: [(String, String)]) -> String {
    substitute(tokens) { n in values.last(where: { $0.0 == n }).map { Shell.quote($0.1) } }
  }

  /// The tokens with each placeholder replaced by `value(name)`, or left as `{name}`.
  static func substitute(_ tokens: [Token], _ value: (String) -> String?) -> String {
    var out = ""
    for t in tokens {
      switch t {
      case .text(let s): out += s
      case .placeholder(let n): out += value(n) ?? "{\(n)}"
      }
    }
    return out
  }

  /// The Cartesian product, first parameter varying slowest.
  public static func configurations(_ grid: [GridParameter]) -> [[(String, String)]] {
    var result: [[(String, String)]] = [[]]
    for p in grid {
      var next: [[(String, String)]] = []
      for partial in result {
        for v in p.values { next.append(partial + [(p.name, v)]) }
      }
      result = next
    }
    return result
  }
}

/// Input checks shared by the tasks file, the config and the CLI.
public enum Validate {
  public static func stripBackticks(_ v: String) -> String {
    var s = v.trimmed(newlines: false)
    for fence in ["``", "`"] where s.count >= 2 * fence.count && s.hasPrefix(fence) && s.hasSuffix(fence) {
      s = String(s.dropFirst(fence.count).dropLast(fence.count)).trimmed(newlines: false)
      break
    }
    return s
  }

  public static func placeholderName(_ s: String) -> Bool {
    guard let f = s.first, f.isASCII, f.isLetter || f == "_" else { return false }
    return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
  }

  public static func identifier(_ s: String) -> Bool {
    !s.isEmpty && s.count <= 128
      && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
      && !s.hasPrefix(".") && !s.hasPrefix("-")
  }

  public static func slurmName(_ s: String, allowComma: Bool = false) -> Bool {
    !s.isEmpty && s.count <= 128
      && s.allSatisfy {
        $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0) || (allowComma && $0 == ","))
      } && !s.hasPrefix("-")
  }

  public static func constraint(_ s: String) -> Bool {
    !s.isEmpty && s.count <= 256
      && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.&|,[]*:()".contains($0)) }
  }

  /// `16G`, `4000M`, `500`, `1T`, optional trailing `B`. Returns the Slurm form.
  public static func memory(_ s: String) -> String? {
    var t = s.trimmed(newlines: false).uppercased()
    if t.hasSuffix("IB") {
      t = String(t.dropLast(2))
    } else if t.hasSuffix("B"), t.count > 1, "KMGT".contains(t[t.index(t.endIndex, offsetBy: -2)]) {
      t = String(t.dropLast())
    }
    guard !t.isEmpty else { return nil }
    var digits = t
    if let last = t.last, "KMGT".contains(last) { digits = String(t.dropLast()) }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), Int(digits) ?? 0 > 0 else {
      return nil
    }
    return t
  }

  /// Slurm time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED.
  public static func timeLimit(_ s: String) -> Bool {
    if ["unlimited", "infinite"].contains(s.lowercased()) { return true }
    return timeSeconds(s) != nil
  }

  /// Seconds in a Slurm time limit, or nil when it is not one.
  public static func timeSeconds(_ s: String) -> Int? {
    func num(_ x: Substring) -> Int? {
      guard !x.isEmpty, x.count <= 6, x.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
      return Int(x)
    }
    var days = 0
    var rest = Substring(s)
    if let dash = s.firstIndex(of: "-") {
      guard let d = num(s[..<dash]) else { return nil }
      days = d
      rest = s[s.index(after: dash)...]
      let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
      guard (1...3).contains(parts.count) else { return nil }
      let n = parts.map(num)
      if n.contains(where: { $0 == nil }) { return nil }
      let h = n[0]!
      let m = parts.count > 1 ? n[1]! : 0
      let sec = parts.count > 2 ? n[2]! : 0
      guard m < 60, sec < 60 else { return nil }
      return ((days * 24 + h) * 60 + m) * 60 + sec
    }
    let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
    let n = parts.map(num)
    if n.contains(where: { $0 == nil }) { return nil }
    switch parts.count {
    case 1: return n[0]! * 60
    case 2:
      guard n[1]! < 60 else { return nil }
      return n[0]! * 60 + n[1]!
    case 3:
      guard n[1]! < 60, n[2]! < 60 else { return nil }
      return (n[0]! * 60 + n[1]!) * 60 + n[2]!
    default: return nil
    }
  }

  public static func envAssignment(_ s: String) -> Bool {
    guard let eq = s.firstIndex(of: "=") else { return false }
    let key = String(s[..<eq])
    // By byte: "\r\n" (and a NUL with a combining mark after it) is one Character
    // that `contains("\n")` would not see.
    return placeholderName(key) && !s.utf8.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
  }

  public static func templateName(_ s: String) -> Bool {
    !s.isEmpty && !s.hasPrefix("/") && !s.split(separator: "/").contains("..")
      && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-./".contains($0)) }
  }
}
