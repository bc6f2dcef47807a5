import Foundation

/// A fast reader and writer for `active.json`, the file every tick loads.
/// Foundation's Codable JSON costs ~40 ms for 1,000 runs; this costs a few.
/// The format is exactly what `JSONEncoder` writes for `ActiveFileV1` (the
/// tests check both directions), so either side can read the other's file.
enum StateCodec {
  enum J {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([J])
    case object([String: J])

    subscript(_ k: String) -> J? {
      if case .object(let o) = self { return o[k] }
      return nil
    }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var int: Int? {
      switch self {
      case .int(let i): return i
      case .double(let d) where d == d.rounded(): return Int(exactly: d)
      default: return nil
      }
    }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var array: [J]? { if case .array(let a) = self { return a } else { return nil } }
  }

  struct ParseError: Error, CustomStringConvertible {
    var offset: Int
    var message: String
    var description: String { "byte \(offset): \(message)" }
  }

  // MARK: parsing

  static func parse(_ data: Data) throws -> J {
    try data.withUnsafeBytes { raw in
      var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
      let v = try p.value(depth: 0)
      p.skip()
      if p.i != p.bytes.count { throw ParseError(offset: p.i, message: "text after the JSON value") }
      return v
    }
  }

  struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func skip() {
      while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 {
        i += 1
      }
    }

    func fail(_ m: String) -> ParseError { ParseError(offset: i, message: m) }

    mutating func value(depth: Int) throws -> J {
      guard depth < 64 else { throw fail("nested too deeply") }
      skip()
      guard i < bytes.count else { throw fail("unexpected end") }
      switch bytes[i] {
      case 0x7B: return try object(depth: depth)
      case 0x5B: return try array(depth: depth)
      case 0x22: return .string(try string())
      case 0x74: return try literal("true", .bool(true))
      case 0x66: return try literal("false", .bool(false))
      case 0x6E: return try literal("null", .null)
      default: return try number()
      }
    }

    mutating func literal(_ word: StaticString, _ v: J) throws -> J {
      let n = word.utf8CodeUnitCount
      guard i + n <= bytes.count else { throw fail("bad literal") }
      for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("bad literal") }
      i += n
      return v
    }

    mutating func number() throws -> J {
      let start = i
      var isDouble = false
      while i < bytes.count {
        let c = bytes[i]
        if (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B {
          i += 1
        } else if c == 0x2E || c == 0x65 || c == 0x45 {
          isDouble = true
          i += 1
        } else {
          break
        }
      }
      guard i > start else { throw fail("unexpected character") }
      let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
      if !isDouble, let n = Int(text) { return .int(n) }
      guard let d = Double(text) else { throw fail("bad number") }
      return .double(d)
    }

    mutating func string() throws -> String {
      i += 1
      let start = i
      var simple = true
      while i < bytes.count && bytes[i] != 0x22 {
        if bytes[i] == 0x5C {
          simple = false
          i += 2
        } else {
          i += 1
        }
      }
      guard i < bytes.count else { throw fail("string not closed") }
      defer { i += 1 }
      let slice = UnsafeBufferPointer(rebasing: bytes[start..<i])
      if simple { return String(decoding: slice, as: UTF8.self) }
      var out: [UInt8] = []
      out.reserveCapacity(slice.count)
      var k = 0
      while k < slice.count {
        let c = slice[k]
        guard c == 0x5C, k + 1 < slice.count else {
          out.append(c)
          k += 1
          continue
        }
        let e = slice[k + 1]
        k += 2
        switch e {
        case 0x6E: out.append(0x0A)
        case 0x74: out.append(0x09)
        case 0x72: out.append(0x0D)
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x75:
          guard k + 4 <= slice.count,
            var code = UInt32(
              String(decoding: UnsafeBufferPointer(rebasing: slice[k..<(k + 4)]), as: UTF8.self), radix: 16)
          else { throw fail("bad \\u escape") }
          k += 4
          // Surrogate pair.
          if code >= 0xD800 && code < 0xDC00, k + 6 <= slice.count, slice[k] == 0x5C, slice[k + 1] == 0x75,
            let low = UInt32(
              String(decoding: UnsafeBufferPointer(rebasing: slice[(k + 2)..<(k + 6)]), as: UTF8.self),
              radix: 16)
          {
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            k += 6
          }
          out.append(contentsOf: Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8))
        default: out.append(e)
        }
      }
      return String(decoding: out, as: UTF8.self)
    }

    mutating func array(depth: Int) throws -> J {
      i += 1
      var out: [J] = []
      skip()
      if i < bytes.count && bytes[i] == 0x5D {
        i += 1
        return .array(out)
      }
      while true {
        out.append(try value(depth: depth + 1))
        skip()
        guard i < bytes.count else { throw fail("array not closed") }
        if bytes[i] == 0x2C {
          i += 1
          continue
        }
        if bytes[i] == 0x5D {
          i += 1
          return .array(out)
        }
        throw fail("expected , or ]")
      }
    }

    mutating func object(depth: Int) throws -> J {
      i += 1
      var out: [String: J] = [:]
      skip()
      if i < bytes.count && bytes[i] == 0x7D {
        i += 1
        return .object(out)
      }
      while true {
        skip()
        guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a key") }
        let k = try string()
        skip()
        guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected :") }
        i += 1
        out[k] = try value(depth: depth + 1)
        skip()
        guard i < bytes.count else { throw fail("object not closed") }
        if bytes[i] == 0x2C {
          i += 1
          continue
        }
        if bytes[i] == 0x7D {
          i += 1
          return .object(out)
        }
        throw fail("expected , or }")
      }
    }
  }

  // MARK: mapping

  struct MissingField: Error, CustomStringConvertible {
    var field: String
    var description: String { "missing or mistyped field '\(field)'" }
  }

  static func req<T>(_ v: T?, _ name: String) throws -> T {
    guard let v else { throw MissingField(field: name) }
    return v
  }

  static func strings(_ j: J?) -> [String] { j?.array?.compactMap(\.string) ?? [] }

  static func resources(_ j: J?) -> Resources {
    guard let j else { return Resources() }
    return Resources(
      gpus: j["gpus"]?.int, cpus: j["cpus"]?.int, mem: j["mem"]?.string, time: j["time"]?.string,
      partition: j["partition"]?.string, account: j["account"]?.string, qos: j["qos"]?.string,
      constraint: j["constraint"]?.string, nodes: j["nodes"]?.int, ntasks: j["ntasks"]?.int)
  }

  static func run(_ j: J) throws -> Run {
    var r = Run(
      id: try req(j["id"]?.string, "id"), name: try req(j["name"]?.string, "name"), sweep: j["sweep"]?.string,
      task: j["task"]?.string, command: try req(j["command"]?.string, "command"),
      params: j["params"]?.array?.map { strings($0) } ?? [], resources: resources(j["resources"]),
      template: j["template"]?.string, env: strings(j["env"]), setup: strings(j["setup"]),
      workdir: j["workdir"]?.string,
      maxRetries: j["maxRetries"]?.int, array: j["array"]?.bool,
      state: try req(j["state"]?.string.flatMap(RunState.init(rawValue:)), "state"),
      created: try req(j["created"]?.string, "created"))
    r.jobID = j["jobID"]?.string
    r.arrayJobID = j["arrayJobID"]?.int
    r.arrayIndex = j["arrayIndex"]?.int
    r.submission = j["submission"]?.string
    r.attempt = try req(j["attempt"]?.int, "attempt")
    r.submitted = j["submitted"]?.string
    r.started = j["started"]?.string
    r.ended = j["ended"]?.string
    r.exitCode = j["exitCode"]?.int
    r.signal = j["signal"]?.int
    r.reason = j["reason"]?.string
    r.scriptPath = j["scriptPath"]?.string
    r.stdoutPath = j["stdoutPath"]?.string
    r.stderrPath = j["stderrPath"]?.string
    r.submitError = j["submitError"]?.string
    r.missingSince = j["missingSince"]?.string
    r.pid = j["pid"]?.int.flatMap { Int32(exactly: $0) }
    r.pidStart = j["pidStart"]?.int.flatMap { UInt64(exactly: $0) }
    r.source = j["source"]?.string
    r.history = try (j["history"]?.array ?? []).map { h in
      Attempt(
        attempt: try req(h["attempt"]?.int, "history.attempt"), jobID: h["jobID"]?.string,
        state: try req(h["state"]?.string.flatMap(RunState.init(rawValue:)), "history.state"),
        exitCode: h["exitCode"]?.int, reason: h["reason"]?.string, ended: h["ended"]?.string)
    }
    return r
  }

  static func sweep(_ j: J) throws -> Sweep {
    var s = Sweep(
      id: try req(j["id"]?.string, "sweep.id"), name: try req(j["name"]?.string, "sweep.name"),
      goal: j["goal"]?.string,
      created: try req(j["created"]?.string, "sweep.created"), task: j["task"]?.string)
    if case .object(let o)? = j["archived"] {
      for (k, v) in o { if let n = v.int { s.archived[k] = n } }
    }
    return s
  }

  /// Decodes a version-1 active file; nil when it is not one (the caller then
  /// asks Codable, for its precise error).
  static func decodeActive(_ data: Data) -> ActiveState? {
    // Every field Codable requires must be there with its type: a damaged file
    // must never read as an empty one.
    guard let root = try? parse(data), root["version"]?.int == 1, let runsJ = root["runs"]?.array,
      let sweepsJ = root["sweeps"]?.array, let archiveSeq = root["archive_seq"]?.int,
      let eventSeq = root["event_seq"]?.int, let runSeq = root["run_seq"]?.int,
      let runs = try? runsJ.map(run), let sweeps = try? sweepsJ.map(sweep)
    else { return nil }
    var s = ActiveState()
    s.runs = runs
    s.sweeps = sweeps
    s.archiveSeq = archiveSeq
    s.eventSeq = eventSeq
    s.runSeq = runSeq
    return s
  }

  // MARK: writing

  struct W {
    var w = JSONWriter()
    var first = true

    mutating func open() {
      w.raw("{")
      first = true
    }
    mutating func close() { w.raw("}") }
    mutating func key(_ k: String) {
      if !first { w.raw(",") }
      first = false
      w.string(k)
      w.raw(":")
    }
    mutating func str(_ k: String, _ v: String?) {
      guard let v else { return }
      key(k)
      w.string(v)
    }
    mutating func int(_ k: String, _ v: Int?) {
      guard let v else { return }
      key(k)
      w.bytes.append(contentsOf: String(v).utf8)
    }
    mutating func bool(_ k: String, _ v: Bool?) {
      guard let v else { return }
      key(k)
      w.raw(v ? "true" : "false")
    }
    mutating func strings(_ k: String, _ v: [String]) {
      key(k)
      list(v)
    }
    mutating func list(_ v: [String]) {
      w.raw("[")
      for (i, s) in v.enumerated() {
        if i > 0 { w.raw(",") }
        w.string(s)
      }
      w.raw("]")
    }
  }

  static func write(_ r: Run, _ o: inout W) {
    o.open()
    o.bool("array", r.array)
    o.int("arrayIndex", r.arrayIndex)
    o.int("arrayJobID", r.arrayJobID)
    o.int("attempt", r.attempt)
    o.str("command", r.command)
    o.str("created", r.created)
    o.str("ended", r.ended)
    o.strings("env", r.env)
    o.int("exitCode", r.exitCode)
    o.key("history")
    o.w.raw("[")
    for (i, h) in r.history.enumerated() {
      if i > 0 { o.w.raw(",") }
      var x = W()
      x.open()
      x.int("attempt", h.attempt)
      x.int("exitCode", h.exitCode)
      x.str("ended", h.ended)
      x.str("jobID", h.jobID)
      x.str("reason", h.reason)
      x.str("state", h.state.rawValue)
      x.close()
      o.w.bytes.append(contentsOf: x.w.bytes)
    }
    o.w.raw("]")
    o.str("id", r.id)
    o.str("jobID", r.jobID)
    o.int("maxRetries", r.maxRetries)
    o.str("missingSince", r.missingSince)
    o.str("name", r.name)
    o.key("params")
    o.w.raw("[")
    for (i, p) in r.params.enumerated() {
      if i > 0 { o.w.raw(",") }
      o.list(p)
    }
    o.w.raw("]")
    o.int("pid", r.pid.map(Int.init))
    o.int("pidStart", r.pidStart.map { Int(truncatingIfNeeded: $0) })
    o.str("reason", r.reason)
    o.key("resources")
    var x = W()
    x.open()
    let res = r.resources
    x.str("account", res.account)
    x.str("constraint", res.constraint)
    x.int("cpus", res.cpus)
    x.int("gpus", res.gpus)
    x.str("mem", res.mem)
    x.int("nodes", res.nodes)
    x.int("ntasks", res.ntasks)
    x.str("partition", res.partition)
    x.str("qos", res.qos)
    x.str("time", res.time)
    x.close()
    o.w.bytes.append(contentsOf: x.w.bytes)
    o.str("scriptPath", r.scriptPath)
    o.strings("setup", r.setup)
    o.int("signal", r.signal)
    o.str("source", r.source)
    o.str("started", r.started)
    o.str("state", r.state.rawValue)
    o.str("stderrPath", r.stderrPath)
    o.str("stdoutPath", r.stdoutPath)
    o.str("submission", r.submission)
    o.str("submitError", r.submitError)
    o.str("submitted", r.submitted)
    o.str("sweep", r.sweep)
    o.str("task", r.task)
    o.str("template", r.template)
    o.str("workdir", r.workdir)
    o.close()
  }

  static func encodeActive(_ s: ActiveState) -> Data {
    var o = W()
    o.w.bytes.reserveCapacity(512 * (s.runs.count + 4))
    o.open()
    o.int("archive_seq", s.archiveSeq)
    o.int("event_seq", s.eventSeq)
    o.int("run_seq", s.runSeq)
    o.key("runs")
    o.w.raw("[")
    for (i, r) in s.runs.enumerated() {
      if i > 0 { o.w.raw(",") }
      o.w.raw("\n")
      var x = W()
      write(r, &x)
      o.w.bytes.append(contentsOf: x.w.bytes)
    }
    o.w.raw("]")
    o.key("sweeps")
    o.w.raw("[")
    for (i, sw) in s.sweeps.enumerated() {
      if i > 0 { o.w.raw(",") }
      o.w.raw("\n")
      var x = W()
      x.open()
      x.key("archived")
      var a = W()
      a.open()
      for k in sw.archived.keys.sorted() { a.int(k, sw.archived[k]) }
      a.close()
      x.w.bytes.append(contentsOf: a.w.bytes)
      x.str("created", sw.created)
      x.str("goal", sw.goal)
      x.str("id", sw.id)
      x.str("name", sw.name)
      x.str("task", sw.task)
      x.close()
      o.w.bytes.append(contentsOf: x.w.bytes)
    }
    o.w.raw("]")
    o.int("version", Store.formatVersion)
    o.close()
    o.w.raw("\n")
    return Data(o.w.bytes)
  }
}
