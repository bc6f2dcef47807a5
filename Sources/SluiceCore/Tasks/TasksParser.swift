import FoundationEssentials
import Glibc

/// Reads a markdown tasks file. Pure: bytes in, document or diagnostics out.
public enum TasksParser {
  public static let knownKeys = [
    "run", "grid", "gpus", "cpus", "mem", "time", "partition", "account", "qos", "constraint",
    "nodes", "ntasks", "template", "env", "setup", "workdir", "retries", "id", "name", "gate",
    "array",
  ]

  /// Common note words that are never taken for a misspelt key.
  public static let noteKeys: Set<String> = [
    "note", "notes", "comment", "result", "results", "idea", "why", "todo", "see",
  ]

  struct RawLine {
    var number: Int
    var offset: Int
    var text: String
  }

  static func splitLines(_ data: Data) -> [RawLine] {
    var lines: [RawLine] = []
    let bytes = [UInt8](data)
    // A UTF-8 byte-order mark (some Windows editors write one) is not text: left
    // out of line 1, whose offsets stay the file's (the write-back edits bytes there).
    var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    var number = 1
    var i = 0
    while i <= bytes.count {
      if i == bytes.count || bytes[i] == 0x0A {
        if i == bytes.count && start == bytes.count { break }
        var end = i
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        lines.append(RawLine(number: number, offset: start, text: text))
        number += 1
        start = i + 1
      }
      i += 1
    }
    return lines
  }

  /// Parses `data` read from `path`. Throws `DiagnosticsError` with every error found.
  public static func parse(_ data: Data, path: String) throws -> TasksDocument {
    var errors: [Diagnostic] = []
    var warnings: [Diagnostic] = []
    func error(_ line: Int, _ col: Int, _ msg: String) {
      errors.append(Diagnostic(file: path, line: line, column: col, severity: .error, message: msg))
    }
    func warn(_ line: Int, _ col: Int, _ msg: String) {
      warnings.append(
        Diagnostic(file: path, line: line, column: col, severity: .warning, message: msg))
    }

    let lines = splitLines(data)
    var phases: [Phase] = [Phase(index: 0, title: "", line: nil, tasks: [])]
    var fence: (char: Character, count: Int)?
    var current: PendingTask?
    var hasSentinel = false

    func finishTask() {
      guard let p = current else { return }
      current = nil
      if let t = p.build(path: path, error: error) {
        phases[phases.count - 1].tasks.append(t)
      }
    }

    for raw in lines {
      let text = raw.text
      if text.containsBytes(TasksDocument.sentinel) { hasSentinel = true }
      let trimmed = text.trimmed(newlines: false)
      // Fenced code blocks are text.
      if let f = fence {
        if let close = fenceMarker(trimmed), close.char == f.char, close.count >= f.count,
          trimmed.drop(while: { $0 == f.char }).trimmed(newlines: false).isEmpty
        {
          fence = nil
        }
        continue
      }
      if let open = fenceMarker(trimmed), leadingSpaces(text) < 4 {
        finishTask()
        fence = open
        continue
      }
      // Headings.
      if text.hasPrefix("## ") || text == "##" {
        finishTask()
        let title = text.dropFirst(2).trimmed(newlines: false)
        phases.append(Phase(index: phases.count, title: title, line: raw.number, tasks: []))
        continue
      }
      if text.hasPrefix("#") {
        finishTask()
        continue
      }
      // Task lines: a top-level list item with a one-character checkbox.
      if let m = matchTask(text) {
        finishTask()
        guard let marker = Marker(character: m.marker) else {
          error(
            raw.number, m.markerColumn,
            "unknown marker [\(m.marker)]; use [ ] todo, [/] in progress, [x] done, [-] skipped or [!] failed"
          )
          current = nil
          continue
        }
        current = PendingTask(
          title: m.title, line: raw.number, marker: marker,
          markerOffset: raw.offset + m.markerByteOffset, phase: phases.count - 1)
        continue
      }
      // Sub-bullets under a task.
      if current != nil {
        if trimmed.isEmpty { continue }
        let indent = leadingSpaces(text)
        if indent == 0 {
          finishTask()
          continue
        }
        if let (key, value, col) = matchSpec(trimmed) {
          let lower = key.lowercased()
          if knownKeys.contains(lower) {
            current!.add(key: lower, value: value, line: raw.number, column: indent + col)
          } else if !noteKeys.contains(lower), let meant = closest(lower, in: knownKeys), lower.count > 2,
            editDistance(lower, meant) * 2 < max(lower.count, meant.count)
          {
            warn(
              raw.number, indent + 3,
              "unknown key '\(key)' is kept as a note; did you mean '\(meant)'?")
          }
        }
      }
    }
    finishTask()

    // Duplicate ids.
    var seen: [String: Int] = [:]
    for t in phases.flatMap(\.tasks) {
      if let other = seen[t.id] {
        error(
          t.line, 1,
          "duplicate task id '\(t.id)' (also on line \(other)); give one of them '- id: another-name'")
      } else {
        seen[t.id] = t.line
      }
    }
    if phases[0].tasks.isEmpty && phases.count > 1 { phases.removeFirst() }
    if !errors.isEmpty {
      throw DiagnosticsError(errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }
    return TasksDocument(
      path: path, data: data, phases: phases, warnings: warnings, hasSentinel: hasSentinel)
  }

  static func leadingSpaces(_ s: String) -> Int {
    var n = 0
    for c in s {
      if c == " " { n += 1 } else if c == "\t" { n += 4 } else { break }
    }
    return n
  }

  static func fenceMarker(_ trimmed: String) -> (char: Character, count: Int)? {
    guard let first = trimmed.first, first == "`" || first == "~" else { return nil }
    let count = trimmed.prefix { $0 == first }.count
    return count >= 3 ? (first, count) : nil
  }

  struct TaskMatch {
    var marker: Character
    var markerColumn: Int
    var markerByteOffset: Int
    var title: String
  }

  /// `- [ ] title` (also `*` or `+` bullets), indented by at most one space.
  static func matchTask(_ text: String) -> TaskMatch? {
    // Bytes first: most lines are not tasks, and some (a long grid) are long.
    var u = text.utf8.makeIterator()
    var b = u.next()
    var spaces = 0
    while b == 0x20 && spaces < 2 {
      spaces += 1
      b = u.next()
    }
    guard b == 0x2D || b == 0x2A || b == 0x2B, u.next() == 0x20 else { return nil }
    b = u.next()
    while b == 0x20 { b = u.next() }
    guard b == 0x5B else { return nil }
    let chars = Array(text)
    var i = 0
    while i < chars.count && chars[i] == " " && i < 2 { i += 1 }
    guard i < 2, i < chars.count, "-*+".contains(chars[i]) else { return nil }
    i += 1
    guard i < chars.count, chars[i] == " " else { return nil }
    while i < chars.count && chars[i] == " " { i += 1 }
    guard i + 2 < chars.count, chars[i] == "[", chars[i + 2] == "]" else { return nil }
    let marker = chars[i + 1]
    guard i + 3 == chars.count || chars[i + 3] == " " else { return nil }
    let title = String(chars[min(chars.count, i + 3)...]).trimmed(newlines: false)
    let byteOffset = String(chars[0..<(i + 1)]).utf8.count
    return TaskMatch(
      marker: marker, markerColumn: i + 2, markerByteOffset: byteOffset, title: title)
  }

  /// `- key: value` → (key, value, column of value).
  static func matchSpec(_ trimmed: String) -> (String, String, Int)? {
    guard trimmed.hasPrefix("- ") || trimmed.hasPrefix("* ") || trimmed.hasPrefix("+ ") else {
      return nil
    }
    let body = trimmed.dropFirst(2)
    guard let colon = body.firstIndex(of: ":") else { return nil }
    let key = body[..<colon].trimmed(newlines: false)
    guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
    else { return nil }
    let value = body[body.index(after: colon)...].trimmed(newlines: false)
    let col = body.distance(from: body.startIndex, to: colon) + 5
    return (key, value, col)
  }

  /// Whether a title names a reflection gate: `Reflection gate:` or `Gate:`, any case,
  /// optionally in `**bold**`.
  public static func isGateTitle(_ title: String) -> Bool {
    var t = title.replacingAll("**", with: "").replacingAll("__", with: "")
    t = t.trimmed(newlines: false).lowercased()
    for prefix in ["reflection gate", "gate"] where t.hasPrefix(prefix) {
      let rest = t.dropFirst(prefix.count).trimmed(newlines: false)
      if rest.hasPrefix(":") { return true }
    }
    return false
  }

  /// A stable id from the phase and title: `p1-learning-rate-sweep`.
  public static func slug(_ title: String, phase: Int) -> String {
    var out = ""
    var dash = false
    for scalar in title.lowercased().unicodeScalars {
      if (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") {
        out.unicodeScalars.append(scalar)
        dash = false
      } else if !dash && !out.isEmpty {
        out.append("-")
        dash = true
      }
    }
    while out.hasSuffix("-") { out.removeLast() }
    if out.count > 48 {
      out = String(out.prefix(48))
      while out.hasSuffix("-") { out.removeLast() }
    }
    return "p\(phase)-" + (out.isEmpty ? "task" : out)
  }
}

/// A task being read: its line and the sub-bullets seen so far.
struct PendingTask {
  var title: String
  var line: Int
  var marker: Marker
  var markerOffset: Int
  var phase: Int
  var entries: [(key: String, value: String, line: Int, column: Int)] = []

  init(title: String, line: Int, marker: Marker, markerOffset: Int, phase: Int) {
    self.title = title
    self.line = line
    self.marker = marker
    self.markerOffset = markerOffset
    self.phase = phase
  }

  mutating func add(key: String, value: String, line: Int, column: Int) {
    entries.append((key, value, line, column))
  }

  func build(path: String, error: (Int, Int, String) -> Void) -> TaskItem? {
    var spec: RunSpec?
    var resources = Resources()
    var grid: [GridParameter] = []
    var gridLine = 0
    var gridFailed = false
    var env: [String] = []
    var setup: [String] = []
    var id: String?
    var name: String?
    var template: String?
    var workdir: String?
    var retries: Int?
    var array: Bool?
    var gate = TasksParser.isGateTitle(title)
    var command: (String, Int)?
    var failed = false
    var seen: [String: Int] = [:]
    let repeatable: Set<String> = ["env", "setup"]

    func fail(_ l: Int, _ c: Int, _ m: String) {
      failed = true
      error(l, c, m)
    }
    func int(_ v: String, _ key: String, _ l: Int, _ c: Int, min: Int) -> Int? {
      guard let n = Int(v), n >= min else {
        fail(
          l, c, "'\(key): \(v)' is not a whole number ≥ \(min); write e.g. '- \(key): \(Swift.max(min, 1))'")
        return nil
      }
      return n
    }

    for e in entries {
      if !repeatable.contains(e.key), let prev = seen[e.key] {
        fail(e.line, e.column, "'\(e.key)' is given twice (first on line \(prev)); keep one")
        continue
      }
      seen[e.key] = e.line
      let v = e.value
      switch e.key {
      case "run":
        let cmd = Validate.stripBackticks(v)
        if cmd.trimmed(newlines: false).isEmpty {
          fail(e.line, e.column, "empty 'run'; write the command, e.g. '- run: `python train.py`'")
        } else if cmd.containsBytes("\n") || cmd.containsBytes("\r") {
          fail(e.line, e.column, "'run' must be one line")
        } else {
          command = (cmd, e.line)
        }
      case "grid":
        gridLine = e.line
        switch Grid.parse(v) {
        case .success(let g): grid = g
        case .failure(let msg):
          gridFailed = true
          fail(e.line, e.column, msg)
        }
      case "gpus": resources.gpus = int(v, "gpus", e.line, e.column, min: 0)
      case "cpus": resources.cpus = int(v, "cpus", e.line, e.column, min: 1)
      case "nodes": resources.nodes = int(v, "nodes", e.line, e.column, min: 1)
      case "ntasks": resources.ntasks = int(v, "ntasks", e.line, e.column, min: 1)
      case "retries": retries = int(v, "retries", e.line, e.column, min: 0)
      case "mem":
        if let m = Validate.memory(v) {
          resources.mem = m
        } else {
          fail(
            e.line, e.column, "'mem: \(v)' is not a memory size; write e.g. '- mem: 16G' or '- mem: 4000M'")
        }
      case "time":
        if Validate.timeLimit(v) {
          resources.time = v
        } else {
          fail(
            e.line, e.column,
            "'time: \(v)' is not a Slurm time limit; write MM, HH:MM:SS or D-HH:MM:SS, e.g. '- time: 2:00:00'"
          )
        }
      case "partition", "account", "qos":
        if Validate.slurmName(v, allowComma: e.key == "partition") {
          switch e.key {
          case "partition": resources.partition = v
          case "account": resources.account = v
          default: resources.qos = v
          }
        } else {
          fail(
            e.line, e.column,
            "'\(e.key): \(v)' is not a valid Slurm name; use letters, digits, '_', '-' and '.'")
        }
      case "constraint":
        if Validate.constraint(v) {
          resources.constraint = v
        } else {
          fail(
            e.line, e.column,
            "'constraint: \(v)' has characters Slurm constraints do not use; use names joined by & | , [ ] * :"
          )
        }
      case "template":
        if Validate.templateName(v) {
          template = v
        } else {
          fail(e.line, e.column, "'template: \(v)' must be a file name or relative path without '..'")
        }
      case "env":
        if Validate.envAssignment(v) {
          env.append(v)
        } else {
          fail(e.line, e.column, "'env: \(v)' must be KEY=VALUE with KEY made of letters, digits and '_'")
        }
      case "setup":
        if v.isEmpty {
          fail(e.line, e.column, "empty 'setup' line; remove it or write a command")
        } else {
          setup.append(Validate.stripBackticks(v))
        }
      case "workdir":
        if v.isEmpty { fail(e.line, e.column, "empty 'workdir'") } else { workdir = v }
      case "id":
        if Validate.identifier(v) {
          id = v
        } else {
          fail(e.line, e.column, "'id: \(v)' must use letters, digits, '_', '-' and '.' only")
        }
      case "name":
        if v.isEmpty { fail(e.line, e.column, "empty 'name'") } else { name = v }
      case "gate":
        switch v.lowercased() {
        case "true", "yes": gate = true
        case "false", "no": gate = false
        default: fail(e.line, e.column, "'gate: \(v)' must be true or false")
        }
      case "array":
        switch v.lowercased() {
        case "true", "yes": array = true
        case "false", "no": array = false
        default: fail(e.line, e.column, "'array: \(v)' must be true or false")
        }
      default: break
      }
    }

    if let (cmd, cmdLine) = command, !gridFailed {
      let placeholders = Grid.placeholders(in: cmd)
      let names = Set(grid.map(\.name))
      for p in placeholders where !names.contains(p) {
        fail(
          cmdLine, 1,
          "placeholder {\(p)} has no grid value; add '\(p) = ...' to '- grid:' or write {{\(p)}} for literal braces"
        )
      }
      for g in grid where !placeholders.contains(g.name) {
        fail(
          gridLine, 1,
          "grid parameter '\(g.name)' is not used in 'run'; add {\(g.name)} to the command or remove it")
      }
      spec = RunSpec(
        command: cmd, commandLine: cmdLine, grid: grid, resources: resources, template: template,
        env: env, setup: setup, workdir: workdir, retries: retries, array: array, name: name)
    } else if !grid.isEmpty {
      fail(gridLine, 1, "'grid' without 'run'; add '- run: `command {param}`'")
    }
    if failed { return nil }
    return TaskItem(
      id: id ?? TasksParser.slug(title, phase: phase), title: title, line: line, marker: marker,
      markerOffset: markerOffset, phase: phase, isGate: gate, spec: gate ? nil : spec)
  }
}
