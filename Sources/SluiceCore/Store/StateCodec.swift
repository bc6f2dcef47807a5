import FoundationEssentials
import Glibc

/// A fast reader and writer for `active.json`, the file every tick loads.
/// Foundation's Codable JSON costs ~40 ms for 1,000 runs; this costs a few.
/// The format is exactly what `JSONEncoder` writes for `ActiveFileV1` (the
/// tests check both directions), so either side can read the other's file.
enum StateCodec {
  struct ParseError: Error, CustomStringConvertible {
    var offset: Int
    var message: String
    var description: String { "byte \(offset): \(message)" }
  }

  // MARK: parsing

  struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func skip() {
      while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 {
        i += 1
      }
    }

    func fail(_ m: String) -> ParseError { ParseError(offset: i, message: m) }

    /// Reads an object, calling `field` with each key; `field` must read the value.
    mutating func object(depth: Int, _ field: (inout Parser, String) throws -> Void) throws {
      try open(depth: depth)
      var first = true
      while let k = try nextKey(first: &first) {
        switch k {
        case .raw(let b): try field(&self, String(decoding: b, as: UTF8.self))
        case .text(let t): try field(&self, t)
        }
      }
    }

    /// An object whose keys are matched on bytes against `keys`, trying first the
    /// one after the last match (the writer sorts them), so no String is made:
    /// `field` gets each listed key's position and reads its value; the values of
    /// keys it does not list are skipped.
    mutating func fields(
      in keys: KeyList, depth: Int, _ field: (inout Parser, Int) throws -> Void
    ) throws {
      try open(depth: depth)
      var previous = 0
      var first = true
      while let k = try nextKey(first: &first) {
        let found: Int?
        switch k {
        case .raw(let b): found = keys.find(b, from: previous)
        case .text(let t): found = keys.names.firstIndex { $0.elementsEqual(t.utf8) }
        }
        guard let at = found else {
          try skipValue(depth: depth + 1)
          continue
        }
        previous = at + 1
        try field(&self, at)
      }
    }

    mutating func open(depth: Int) throws {
      guard depth < 64 else { throw fail("nested too deeply") }
      skip()
      guard i < bytes.count, bytes[i] == 0x7B else { throw fail("expected an object") }
      i += 1
    }

    enum Key {
      /// The key's bytes, when it has no escapes (every key sluice writes).
      case raw(UnsafeBufferPointer<UInt8>)
      case text(String)
    }

    /// Where the plain text from `start` ends: at its closing quote, or at the first
    /// byte `quoted()` must see (an escape, a raw control character, text beyond
    /// ASCII to check as UTF-8).
    func plainEnd(from start: Int) -> Int {
      var end = start
      while end < bytes.count {
        let c = bytes[end]
        guard c != 0x22 && c != 0x5C && c >= 0x20 && c < 0x80 else { break }
        end += 1
      }
      return end
    }

    /// The next key of an object opened with `open`, with its `:` read; nil after the `}`.
    mutating func nextKey(first: inout Bool) throws -> Key? {
      skip()
      guard i < bytes.count else { throw fail("object not closed") }
      if bytes[i] == 0x7D {
        i += 1
        return nil
      }
      if !first {
        guard bytes[i] == 0x2C else { throw fail("expected , or }") }
        i += 1
        skip()
      }
      first = false
      guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a key") }
      let start = i + 1
      let end = plainEnd(from: start)
      let key: Key
      if end < bytes.count && bytes[end] == 0x22 {
        key = .raw(UnsafeBufferPointer(rebasing: bytes[start..<end]))
        i = end + 1
      } else {
        key = .text(try quoted())
      }
      skip()
      guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected :") }
      i += 1
      return key
    }

    /// Reads an array (nil for `null`), calling `element` for each element.
    mutating func array<T>(
      depth: Int, reserve: Int = 0, _ element: (inout Parser) throws -> T
    ) throws -> [T]? {
      guard depth < 64 else { throw fail("nested too deeply") }
      if try isNull() { return nil }
      guard i < bytes.count, bytes[i] == 0x5B else { throw fail("expected an array") }
      i += 1
      var out: [T] = []
      out.reserveCapacity(reserve)
      skip()
      if i < bytes.count && bytes[i] == 0x5D {
        i += 1
        return out
      }
      while true {
        out.append(try element(&self))
        skip()
        guard i < bytes.count else { throw fail("array not closed") }
        if bytes[i] == 0x2C {
          i += 1
          continue
        }
        if bytes[i] == 0x5D {
          i += 1
          return out
        }
        throw fail("expected , or ]")
      }
    }

    /// A list of strings (not null: no list sluice writes may be).
    mutating func strings(depth: Int) throws -> [String] {
      try req(array(depth: depth) { p in try p.req(p.string()) })
    }

    func req<T>(_ v: T?) throws -> T {
      guard let v else { throw fail("expected a value, found null") }
      return v
    }

    /// Consumes `null` if it is next.
    mutating func isNull() throws -> Bool {
      skip()
      guard i < bytes.count else { throw fail("unexpected end") }
      if bytes[i] == 0x6E {
        try literal("null")
        return true
      }
      return false
    }

    mutating func string() throws -> String? {
      if try isNull() { return nil }
      guard bytes[i] == 0x22 else { throw fail("expected a string") }
      return try quoted()
    }

    /// The value last read for a field, by its bytes' place in the input.
    struct Recent {
      var start = 0
      var count = -1
      var value = ""
    }
    /// One per field slot: run keys, then resource keys.
    var recent = [Recent](repeating: Recent(), count: RunKey.all.count + ResourceKey.all.count)

    /// `string()`, reusing the String read for the same `slot` when the bytes are the
    /// same (runs of a sweep share their sweep, task, times, reason, partition...):
    /// comparing a few bytes is cheaper than making and later freeing a String.
    mutating func string(slot: Int) throws -> String? {
      if try isNull() { return nil }
      guard bytes[i] == 0x22 else { throw fail("expected a string") }
      let start = i + 1
      let end = plainEnd(from: start)
      guard end < bytes.count, bytes[end] == 0x22 else { return try quoted() }  // not plain: not kept
      let n = end - start
      i = end + 1
      let r = recent[slot]
      if r.count == n && (n == 0 || memcmp(bytes.baseAddress! + r.start, bytes.baseAddress! + start, n) == 0)
      {
        return r.value
      }
      let v = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
      recent[slot] = Recent(start: start, count: n, value: v)
      return v
    }

    /// JSON's number grammar, `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`: what
    /// Swift's Int and Double would also take (`+1`, `01`, `1.`) is a damaged file.
    static func isJSONNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
      var k = 0
      func digits() -> Int {
        let from = k
        while k < b.count && b[k] >= 0x30 && b[k] <= 0x39 { k += 1 }
        return k - from
      }
      if k < b.count && b[k] == 0x2D { k += 1 }
      let whole = k
      let n = digits()
      guard n > 0, !(n > 1 && b[whole] == 0x30) else { return false }
      if k < b.count && b[k] == 0x2E {
        k += 1
        guard digits() > 0 else { return false }
      }
      if k < b.count && (b[k] == 0x65 || b[k] == 0x45) {
        k += 1
        if k < b.count && (b[k] == 0x2B || b[k] == 0x2D) { k += 1 }
        guard digits() > 0 else { return false }
      }
      return k == b.count
    }

    static func continuesNumber(_ c: UInt8) -> Bool {
      (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45
    }

    /// The text of the number that starts here (digits, sign, point, exponent),
    /// and whether it has a fraction or an exponent.
    mutating func numberText() throws -> (text: String, fractional: Bool) {
      let start = i
      var fractional = false
      while i < bytes.count {
        let c = bytes[i]
        if (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B {
          i += 1
        } else if c == 0x2E || c == 0x65 || c == 0x45 {
          fractional = true
          i += 1
        } else {
          break
        }
      }
      guard Self.isJSONNumber(UnsafeBufferPointer(rebasing: bytes[start..<i])) else {
        throw fail("expected a number")
      }
      return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self), fractional)
    }

    mutating func int() throws -> Int? {
      if try isNull() { return nil }
      // Plain digits (what the writer puts) read in place; anything else below.
      var k = i
      var n = 0
      while k < bytes.count && k - i < 18, bytes[k] >= 0x30 && bytes[k] <= 0x39 {
        n = n * 10 + Int(bytes[k] - 0x30)
        k += 1
      }
      if k > i && (k == bytes.count || !Self.continuesNumber(bytes[k])) && !(k - i > 1 && bytes[i] == 0x30) {
        i = k
        return n
      }
      let (text, fractional) = try numberText()
      if !fractional, let n = Int(text) { return n }
      guard let d = Double(text), d == d.rounded(), let n = Int(exactly: d) else {
        throw fail("expected a whole number")
      }
      return n
    }

    mutating func double() throws -> Double? {
      if try isNull() { return nil }
      guard let d = Double(try numberText().text), d.isFinite else { throw fail("expected a number") }
      return d
    }

    mutating func bool() throws -> Bool? {
      if try isNull() { return nil }
      if bytes[i] == 0x74 {
        try literal("true")
        return true
      }
      try literal("false")
      return false
    }

    /// Skips any value (fields this version does not know).
    mutating func skipValue(depth: Int) throws {
      guard depth < 64 else { throw fail("nested too deeply") }
      skip()
      guard i < bytes.count else { throw fail("unexpected end") }
      switch bytes[i] {
      case 0x7B: try object(depth: depth) { p, _ in try p.skipValue(depth: depth + 1) }
      case 0x5B: _ = try array(depth: depth) { p in try p.skipValue(depth: depth + 1) }
      case 0x22: _ = try quoted()
      case 0x74: try literal("true")
      case 0x66: try literal("false")
      case 0x6E: try literal("null")
      default:
        guard (try? numberText()) != nil else { throw fail("unexpected character") }
      }
    }

    mutating func literal(_ word: StaticString) throws {
      let n = word.utf8CodeUnitCount
      guard i + n <= bytes.count else { throw fail("bad literal") }
      for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("bad literal") }
      i += n
    }

    mutating func quoted() throws -> String {
      i += 1
      let start = i
      var simple = true
      while i < bytes.count && bytes[i] != 0x22 {
        if bytes[i] == 0x5C {
          simple = false
          i += 2
        } else if bytes[i] < 0x20 {  // JSON escapes these; raw, the file is damaged
          throw fail("control character in a string")
        } else {
          i += 1
        }
      }
      guard i < bytes.count else { throw fail("string not closed") }
      defer { i += 1 }
      let slice = UnsafeBufferPointer(rebasing: bytes[start..<i])
      if simple { return try utf8(slice) }
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
        case 0x22, 0x5C, 0x2F: out.append(e)
        case 0x75:
          guard var code = Self.hex4(slice, at: k) else { throw fail("bad \\u escape") }
          k += 4
          if code >= 0xDC00 && code < 0xE000 { throw fail("lone low surrogate") }
          if code >= 0xD800 && code < 0xDC00 {  // a surrogate pair, or damage
            guard k + 6 <= slice.count, slice[k] == 0x5C, slice[k + 1] == 0x75,
              let low = Self.hex4(slice, at: k + 2), low >= 0xDC00 && low < 0xE000
            else { throw fail("lone high surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            k += 6
          }
          guard let scalar = Unicode.Scalar(code) else { throw fail("bad \\u escape") }
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: throw fail("bad escape")
        }
      }
      return try out.withUnsafeBufferPointer { try utf8($0) }
    }

    /// The four hex digits at `k` (exactly those: `UInt32(_:radix:)` would take a sign).
    static func hex4(_ b: UnsafeBufferPointer<UInt8>, at k: Int) -> UInt32? {
      guard k + 4 <= b.count else { return nil }
      var v: UInt32 = 0
      for c in b[k..<(k + 4)] {
        switch c {
        case 0x30...0x39: v = v << 4 | UInt32(c - 0x30)
        case 0x41...0x46: v = v << 4 | UInt32(c - 0x41 + 10)
        case 0x61...0x66: v = v << 4 | UInt32(c - 0x61 + 10)
        default: return nil
        }
      }
      return v
    }

    /// `b` as text, if it is UTF-8 (a damaged file's invalid bytes are not made into
    /// U+FFFD, as `String(decoding:)` would).
    func utf8(_ b: UnsafeBufferPointer<UInt8>) throws -> String {
      if !b.contains(where: { $0 >= 0x80 }) { return String(decoding: b, as: UTF8.self) }
      guard let s = String(validating: b, as: UTF8.self) else { throw fail("not UTF-8") }
      return s
    }

  }

  // MARK: decoding, straight into the model

  /// Key names of one kind of object, as bytes.
  struct KeyList {
    let names: [[UInt8]]
    /// All names in one buffer (`starts[k]`, `lengths[k]`), compared with memcmp.
    private let flat: [UInt8]
    private let starts: [Int]
    private let lengths: [Int]

    init(_ names: [String]) {
      self.names = names.map { Array($0.utf8) }
      var flat: [UInt8] = []
      var starts: [Int] = []
      for n in self.names {
        starts.append(flat.count)
        flat += n
      }
      self.flat = flat
      self.starts = starts
      self.lengths = self.names.map(\.count)
    }

    /// Position of `key`, looking from `from` onwards first.
    func find(_ key: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
      let n = lengths.count
      guard n > 0 else { return nil }
      return flat.withUnsafeBufferPointer { f -> Int? in
        var k = 0
        var at = from % n
        while k < n {
          if lengths[at] == key.count
            && (key.count == 0 || memcmp(f.baseAddress! + starts[at], key.baseAddress!, key.count) == 0)
          {
            return at
          }
          k += 1
          at += 1
          if at == n { at = 0 }
        }
        return nil
      }
    }
  }

  /// Run fields in the order the writer emits them (sorted).
  enum RunKey: String, CaseIterable {
    case array, arrayIndex, arrayJobID, attempt, command, created, ended, env, exitCode, history, id, jobID
    case maxRetries, missingSince, name, params, pid, pidStart, reason, resources, scriptPath, setup
    case signal, source, started, state, stderrPath, stdoutPath, submission, submitError, submitted
    case sweep, task, template, workdir

    static let all = allCases
    static let keys = KeyList(all.map(\.rawValue))
  }

  struct MissingField: Error, CustomStringConvertible {
    var field: String
    var description: String { "missing or mistyped field '\(field)'" }
  }

  static func req<T>(_ v: T?, _ name: String) throws -> T {
    guard let v else { throw MissingField(field: name) }
    return v
  }

  /// Resources fields in the order the writer emits them (sorted).
  enum ResourceKey: String, CaseIterable {
    case account, constraint, cpus, gpus, mem, nodes, ntasks, partition, qos, time

    static let all = allCases
    static let keys = KeyList(all.map(\.rawValue))
  }

  static func resources(_ p: inout Parser, depth: Int) throws -> Resources {
    var r = Resources()
    let all = ResourceKey.all  // once, not per key (each static access is a swift_once check)
    // Slots after the run's own keys: sweeps repeat these values run after run.
    let base = RunKey.all.count
    try p.fields(in: ResourceKey.keys, depth: depth) { p, at in
      let slot = base + at
      switch all[at] {
      case .gpus: r.gpus = try p.int()
      case .cpus: r.cpus = try p.int()
      case .mem: r.mem = try p.string(slot: slot)
      case .time: r.time = try p.string(slot: slot)
      case .partition: r.partition = try p.string(slot: slot)
      case .account: r.account = try p.string(slot: slot)
      case .qos: r.qos = try p.string(slot: slot)
      case .constraint: r.constraint = try p.string(slot: slot)
      case .nodes: r.nodes = try p.int()
      case .ntasks: r.ntasks = try p.int()
      }
    }
    return r
  }

  static func attempt(_ p: inout Parser, depth: Int) throws -> Attempt {
    var attempt: Int?
    var state: RunState?
    var a = Attempt(attempt: 0, jobID: nil, state: .queued, exitCode: nil, reason: nil, ended: nil)
    try p.object(depth: depth) { p, key in
      switch key {
      case "attempt": attempt = try p.int()
      case "jobID": a.jobID = try p.string()
      case "state": state = try p.string().flatMap(RunState.init(rawValue:))
      case "exitCode": a.exitCode = try p.int()
      case "reason": a.reason = try p.string()
      case "ended": a.ended = try p.string()
      default: try p.skipValue(depth: depth + 1)
      }
    }
    a.attempt = try req(attempt, "history.attempt")
    a.state = try req(state, "history.state")
    return a
  }

  static func run(_ p: inout Parser, depth: Int) throws -> Run {
    var r = Run(id: "", name: "", command: "", state: .queued, created: "")
    var id: String?
    var name: String?
    var command: String?
    var state: RunState?
    var created: String?
    var attempt: Int?
    // Lists and resources Codable requires too (never null in what sluice writes).
    var params: [[String]]?
    var resources: Resources?
    var env: [String]?
    var setup: [String]?
    var history: [Attempt]?
    let all = RunKey.all  // once, not per key (each static access is a swift_once check)
    try p.fields(in: RunKey.keys, depth: depth) { p, at in
      switch all[at] {
      case .id: id = try p.string(slot: at)
      case .name: name = try p.string(slot: at)
      case .sweep: r.sweep = try p.string(slot: at)
      case .task: r.task = try p.string(slot: at)
      case .command: command = try p.string(slot: at)
      case .params: params = try p.array(depth: depth + 1) { p in try p.strings(depth: depth + 2) }
      case .resources: resources = try p.isNull() ? nil : StateCodec.resources(&p, depth: depth + 1)
      case .template: r.template = try p.string(slot: at)
      case .env: env = try p.strings(depth: depth + 1)
      case .setup: setup = try p.strings(depth: depth + 1)
      case .workdir: r.workdir = try p.string(slot: at)
      case .maxRetries: r.maxRetries = try p.int()
      case .array: r.array = try p.bool()
      case .state: state = try p.string(slot: at).flatMap(RunState.init(rawValue:))
      case .created: created = try p.string(slot: at)
      case .jobID: r.jobID = try p.string(slot: at)
      case .arrayJobID: r.arrayJobID = try p.int()
      case .arrayIndex: r.arrayIndex = try p.int()
      case .submission: r.submission = try p.string(slot: at)
      case .attempt: attempt = try p.int()
      case .submitted: r.submitted = try p.string(slot: at)
      case .started: r.started = try p.string(slot: at)
      case .ended: r.ended = try p.string(slot: at)
      case .exitCode: r.exitCode = try p.int()
      case .signal: r.signal = try p.int()
      case .reason: r.reason = try p.string(slot: at)
      case .scriptPath: r.scriptPath = try p.string(slot: at)
      case .stdoutPath: r.stdoutPath = try p.string(slot: at)
      case .stderrPath: r.stderrPath = try p.string(slot: at)
      case .submitError: r.submitError = try p.string(slot: at)
      case .missingSince: r.missingSince = try p.string(slot: at)
      case .pid: r.pid = try p.int().flatMap { Int32(exactly: $0) }
      case .pidStart: r.pidStart = try p.int().flatMap { UInt64(exactly: $0) }
      case .source: r.source = try p.string(slot: at)
      case .history:
        history = try p.array(depth: depth + 1) { p in try StateCodec.attempt(&p, depth: depth + 2) }
      }
    }
    r.params = try req(params, "params")
    r.resources = try req(resources, "resources")
    r.env = try req(env, "env")
    r.setup = try req(setup, "setup")
    r.history = try req(history, "history")
    r.id = try req(id, "id")
    r.name = try req(name, "name")
    r.command = try req(command, "command")
    r.state = try req(state, "state")
    r.created = try req(created, "created")
    r.attempt = try req(attempt, "attempt")
    return r
  }

  static func sweep(_ p: inout Parser, depth: Int) throws -> Sweep {
    var s = Sweep(id: "", name: "", created: "")
    var archived: [String: Int]?
    var id: String?
    var name: String?
    var created: String?
    try p.object(depth: depth) { p, key in
      switch key {
      case "id": id = try p.string()
      case "name": name = try p.string()
      case "goal": s.goal = try p.string()
      case "created": created = try p.string()
      case "task": s.task = try p.string()
      case "archived":
        if try p.isNull() { break }
        var counts: [String: Int] = [:]
        try p.object(depth: depth + 1) { p, k in counts[k] = try p.req(p.int()) }
        archived = counts
      default: try p.skipValue(depth: depth + 1)
      }
    }
    s.id = try req(id, "sweep.id")
    s.name = try req(name, "sweep.name")
    s.created = try req(created, "sweep.created")
    s.archived = try req(archived, "sweep.archived")
    return s
  }

  /// Decodes a version-1 active file; nil when it is not one (the caller then
  /// asks Codable, for its precise error).
  static func decodeActive(_ data: Data) -> ActiveState? {
    // Every field Codable requires must be there with its type: a damaged file
    // must never read as an empty one.
    try? data.withUnsafeBytes { raw -> ActiveState? in
      var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
      var s = ActiveState()
      var version: Int?
      var runs: [Run]?
      var sweeps: [Sweep]?
      var archiveSeq: Int?
      var eventSeq: Int?
      var runSeq: Int?
      try p.object(depth: 0) { p, key in
        switch key {
        case "version": version = try p.int()
        // A run takes at least ~150 bytes of JSON: room for all without regrowing
        // (pages never touched cost nothing).
        case "runs": runs = try p.array(depth: 1, reserve: p.bytes.count / 150) { p in try run(&p, depth: 2) }
        case "sweeps": sweeps = try p.array(depth: 1) { p in try sweep(&p, depth: 2) }
        case "archive_seq": archiveSeq = try p.int()
        case "event_seq": eventSeq = try p.int()
        case "run_seq": runSeq = try p.int()
        default: try p.skipValue(depth: 1)
        }
      }
      p.skip()
      guard p.i == p.bytes.count, version == 1, let runs, let sweeps, let archiveSeq, let eventSeq, let runSeq
      else { return nil }
      s.runs = runs
      s.sweeps = sweeps
      s.archiveSeq = archiveSeq
      s.eventSeq = eventSeq
      s.runSeq = runSeq
      return s
    } ?? nil
  }

  // MARK: writing

  /// Writes objects straight into one buffer; a nested object is opened and
  /// closed in place (it is always a key's value, so the parent is past its first key).
  struct W {
    var w = JSONWriter(capacity: 0)
    var first = true

    mutating func open() {
      w.out.append(0x7B)
      first = true
    }
    mutating func close() {
      w.out.append(0x7D)
      first = false
    }
    /// `"k":`, after a comma unless first. The keys are sluice's own plain ASCII
    /// names: nothing to escape, so they are copied, not scanned.
    mutating func key(_ k: StaticString) {
      w.out.appendKey(k, comma: !first)
      first = false
    }
    /// A key that is data (a state name counted in a sweep), escaped as a string.
    mutating func key(_ k: String) {
      if !first { w.out.append(0x2C) }
      first = false
      w.string(k)
      w.out.append(0x3A)
    }
    mutating func str(_ k: StaticString, _ v: String?) {
      guard let v else { return }
      key(k)
      w.string(v)
    }
    mutating func int(_ k: StaticString, _ v: Int?) {
      guard let v else { return }
      key(k)
      w.int(v)
    }
    mutating func int(_ k: String, _ v: Int?) {
      guard let v else { return }
      key(k)
      w.int(v)
    }
    mutating func bool(_ k: StaticString, _ v: Bool?) {
      guard let v else { return }
      key(k)
      w.raw(v ? "true" : "false")
    }
    mutating func strings(_ k: StaticString, _ v: [String]) {
      key(k)
      list(v)
    }
    mutating func list(_ v: [String]) { array(v) { o, s in o.w.string(s) } }

    /// `[a,b,...]`, each item written by `each`; `lines` starts each on a new line.
    mutating func array<S: Sequence>(_ items: S, lines: Bool = false, _ each: (inout W, S.Element) -> Void) {
      w.raw("[")
      var firstItem = true
      for x in items {
        if !firstItem { w.raw(",") }
        firstItem = false
        if lines { w.raw("\n") }
        each(&self, x)
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
    o.array(r.history) { o, h in
      o.open()
      o.int("attempt", h.attempt)
      o.int("exitCode", h.exitCode)
      o.str("ended", h.ended)
      o.str("jobID", h.jobID)
      o.str("reason", h.reason)
      o.str("state", h.state.rawValue)
      o.close()
    }
    o.str("id", r.id)
    o.str("jobID", r.jobID)
    o.int("maxRetries", r.maxRetries)
    o.str("missingSince", r.missingSince)
    o.str("name", r.name)
    o.key("params")
    o.array(r.params) { o, p in o.list(p) }
    o.int("pid", r.pid.map(Int.init))
    o.int("pidStart", r.pidStart.map { Int(truncatingIfNeeded: $0) })
    o.str("reason", r.reason)
    o.key("resources")
    o.open()
    let res = r.resources
    o.str("account", res.account)
    o.str("constraint", res.constraint)
    o.int("cpus", res.cpus)
    o.int("gpus", res.gpus)
    o.str("mem", res.mem)
    o.int("nodes", res.nodes)
    o.int("ntasks", res.ntasks)
    o.str("partition", res.partition)
    o.str("qos", res.qos)
    o.str("time", res.time)
    o.close()
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

  static func write(_ sw: Sweep, _ o: inout W) {
    o.open()
    o.key("archived")
    o.open()
    for k in sw.archived.keys.sorted() { o.int(k, sw.archived[k]) }
    o.close()
    o.str("created", sw.created)
    o.str("goal", sw.goal)
    o.str("id", sw.id)
    o.str("name", sw.name)
    o.str("task", sw.task)
    o.close()
  }

  /// `active.json` for `s`, in pieces to write one after another. Past a few
  /// hundred runs, the runs are written by up to `parts` threads at once: the two
  /// saves of a tick that submits 1,000 runs each took ~5 ms on one.
  static func encodeActive(_ s: ActiveState, parts: Int = 1) -> [ByteBuffer] {
    var o = W()
    o.open()
    o.int("archive_seq", s.archiveSeq)
    o.int("event_seq", s.eventSeq)
    o.int("run_seq", s.runSeq)
    o.key("runs")
    o.w.raw("[")
    let n = s.runs.count
    let k = n < 512 ? 1 : max(1, min(parts, 8))
    let bounds = (0...k).map { $0 * n / k }
    // The threads see the runs through a pointer, valid until they are all waited
    // for here: a thread still holding the array itself a moment after the save
    // would make the tick's next change to a run copy all 1,000.
    let pieces = s.runs.withUnsafeBufferPointer { buf in
      nonisolated(unsafe) let buf = buf
      let others = (1..<k).map { j in Background { Self.runs(buf, bounds[j]..<bounds[j + 1]) } }
      var pieces = [Self.runs(buf, bounds[0]..<bounds[1])]
      for o in others { pieces.append(try! o.wait()) }  // the work cannot throw
      return pieces
    }
    var tail = W()
    tail.first = false
    tail.w.raw("]")
    tail.key("sweeps")
    tail.array(s.sweeps, lines: true) { o, sw in write(sw, &o) }
    tail.int("version", Store.formatVersion)
    tail.close()
    tail.w.raw("\n")
    return [o.w.out] + pieces + [tail.w.out]
  }

  /// `runs[range]` as `active.json` lists them: each on a line of its own, after a
  /// comma unless it is the first run.
  static func runs(_ runs: UnsafeBufferPointer<Run>, _ range: Range<Int>) -> ByteBuffer {
    var o = W()
    // Room for typical runs (~560 bytes) at once: regrowing copies, and faults in
    // the whole buffer again.
    o.w.out.reserve(768 * range.count + 64)
    for i in range {
      if i > 0 { o.w.out.append(0x2C) }
      o.w.out.append(0x0A)
      write(runs[i], &o)
    }
    return o.w.out
  }
}
