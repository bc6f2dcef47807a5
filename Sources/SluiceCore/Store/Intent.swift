import FoundationEssentials
import Glibc

/// One submission about to go to sbatch: its tag and its runs (positions in
/// `state.runs`), already marked `submitting` under the tag.
struct IntentSubmission: Sendable {
  var tag: String
  var isArray: Bool
  var positions: [Int]
}

// The intent file's on-disk form. A submission's runs are written as its first
// run in full and, for each other run that differs from it only in what a grid
// changes (id, name, command, params, array index), those four fields: for a
// 1,000-run sweep ~70 KB instead of the ~370 KB the same runs take in `active.json`.
struct IntentFileV1: Codable {
  var version: Int
  var sweeps: [Sweep]
  var submissions: [IntentSubmissionV1]
}

struct IntentSubmissionV1: Codable {
  var tag: String
  var array: Bool
  var first: Run
  var rest: [IntentRunV1]
  /// Instead of `rest`: runs made this tick from a grid, told by the grid
  /// (configurations `from + 1 ..< from + count` after the first).
  var grid: IntentGridV1?
}

/// The grid a sweep's runs were filled from (see `GridFill`): a few KB for any
/// number of runs.
struct IntentGridV1: Codable, Equatable {
  var sweep: String
  var base: String
  var command: String
  var params: [GridParameter]
  var from: Int
  var count: Int
}

/// A run after the first: the four fields a grid changes, or (`run`) the whole
/// run when it differs in more.
struct IntentRunV1: Codable {
  init() {}
  var id: String?
  var name: String?
  var command: String?
  var params: [[String]]?
  var run: Run?
}

extension StateCodec {
  /// The intent file for `submissions` of `state`, with the sweeps their runs
  /// belong to (a sweep made this tick is not on disk yet either).
  static func encodeIntent(
    _ state: ActiveState, _ submissions: [IntentSubmission], fills: [String: GridFill] = [:]
  ) -> ByteBuffer {
    var o = W()
    // Room for it all at once (a grid sibling takes ~90 bytes): regrowing copies,
    // and faults new pages in.
    o.w.out.reserve(submissions.reduce(4096) { $0 + 128 * $1.positions.count })
    o.open()
    var sweepIDs = Set<String>()
    for s in submissions {
      var last: String?
      for i in s.positions where state.runs[i].sweep != last {
        last = state.runs[i].sweep
        if let id = last { sweepIDs.insert(id) }
      }
    }
    o.key("submissions")
    // Through a pointer: a copy of each Run would retain its ~20 strings.
    state.runs.withUnsafeBufferPointer { runs in
      o.array(submissions, lines: true) { o, s in
        o.open()
        o.bool("array", s.isArray)
        let first = s.positions[0]
        o.key("first")
        write(runs[first], &o)
        if let fill = runs[first].sweep.flatMap({ fills[$0] }), let from = filled(s.positions, runs, fill) {
          o.key("grid")
          o.open()
          o.str("base", fill.base)
          o.str("command", fill.command)
          o.int("count", s.positions.count)
          o.int("from", from)
          o.key("params")
          o.array(fill.grid) { o, g in
            o.open()
            o.str("name", g.name)
            o.strings("values", g.values)
            o.close()
          }
          o.str("sweep", fill.sweep)
          o.close()
          o.key("rest")
          o.w.raw("[]")
          o.str("tag", s.tag)
          o.close()
          return
        }
        o.key("rest")
        o.array(s.positions.dropFirst(), lines: true) { o, i in
          o.open()
          if gridSibling(runs[i], of: runs[first]) {
            o.str("command", runs[i].command)
            o.str("id", runs[i].id)
            o.str("name", runs[i].name)
            o.key("params")
            o.array(runs[i].params) { o, p in o.list(p) }
          } else {
            o.key("run")
            write(runs[i], &o)
          }
          o.close()
        }
        o.str("tag", s.tag)
        o.close()
      }
    }
    o.key("sweeps")
    o.array(state.sweeps.filter { sweepIDs.contains($0.id) }, lines: true) { o, sw in write(sw, &o) }
    o.int("version", Store.formatVersion)
    o.close()
    o.w.raw("\n")
    return o.w.out
  }

  /// The configuration index of the first of `positions` if they are runs
  /// `fill` made, unchanged but for their submission, one after another; else nil.
  /// (Checked at both ends: the runs between were made in one loop.)
  static func filled(_ positions: [Int], _ runs: UnsafeBufferPointer<Run>, _ fill: GridFill) -> Int? {
    guard let a = positions.first, let b = positions.last, b - a == positions.count - 1, a >= fill.start,
      b - fill.start < fill.total, positions.count > 1
    else { return nil }
    let from = a - fill.start
    let (f0, f1) = (fill.fields(from), fill.fields(from + positions.count - 1))
    guard runs[a].id == f0.id, runs[a].command == f0.command, runs[b].id == f1.id,
      runs[b].command == f1.command,
      runs[b].name == f1.name, runs[b].params == f1.params, gridSibling(runs[b], of: runs[a])
    else { return nil }
    return from
  }

  /// The fields of a run that a grid changes from one run to the next; the
  /// others are compared by `gridSibling` (a test holds the two lists to every
  /// stored property of `Run`).
  static let gridFields: Set<String> = ["id", "name", "command", "params", "arrayIndex"]

  /// Whether `r` is `first` but for the `gridFields`. Field by field, in place: a
  /// copy of a run to compare whole costs its ~20 strings' retains.
  static func gridSibling(_ r: Run, of f: Run) -> Bool {
    r.sweep == f.sweep && r.task == f.task && r.resources == f.resources && r.template == f.template
      && r.env == f.env && r.setup == f.setup && r.workdir == f.workdir && r.maxRetries == f.maxRetries
      && r.array == f.array && r.state == f.state && r.jobID == f.jobID && r.arrayJobID == f.arrayJobID
      && r.submission == f.submission && r.attempt == f.attempt && r.created == f.created
      && r.submitted == f.submitted && r.started == f.started && r.ended == f.ended
      && r.exitCode == f.exitCode
      && r.signal == f.signal && r.reason == f.reason && r.scriptPath == f.scriptPath
      && r.stdoutPath == f.stdoutPath && r.stderrPath == f.stderrPath && r.submitError == f.submitError
      && r.missingSince == f.missingSince && r.history == f.history && r.pid == f.pid
      && r.pidStart == f.pidStart && r.source == f.source
  }

  /// The fields `gridSibling` compares, by name, for the test that holds it to `Run`.
  static let siblingFields: Set<String> = [
    "sweep", "task", "resources", "template", "env", "setup", "workdir", "maxRetries", "array", "state",
    "jobID", "arrayJobID", "submission", "attempt", "created", "submitted", "started", "ended", "exitCode",
    "signal", "reason", "scriptPath", "stdoutPath", "stderrPath", "submitError", "missingSince", "history",
    "pid", "pidStart", "source",
  ]

  /// An intent file read by hand (the common case: every tick after one that
  /// submitted reads one); nil if it is not exactly what `encodeIntent` writes,
  /// and Codable then says what is wrong with it.
  static func decodeIntent(_ data: Data) -> IntentFileV1? {
    try? data.withUnsafeBytes { raw -> IntentFileV1? in
      var p = Parser(bytes: raw.bindMemory(to: UInt8.self))
      var version: Int?
      var submissions: [IntentSubmissionV1]?
      var sweeps: [Sweep]?
      try p.object(depth: 0) { p, key in
        switch key {
        case "version": version = try p.int()
        case "sweeps": sweeps = try p.array(depth: 1) { p in try sweep(&p, depth: 2) }
        case "submissions": submissions = try p.array(depth: 1) { p in try intentSubmission(&p, depth: 2) }
        default: try p.skipValue(depth: 1)
        }
      }
      p.skip()
      guard p.i == p.bytes.count, version == Store.formatVersion, let submissions, let sweeps else {
        return nil
      }
      return IntentFileV1(version: Store.formatVersion, sweeps: sweeps, submissions: submissions)
    } ?? nil
  }

  static func intentSubmission(_ p: inout Parser, depth: Int) throws -> IntentSubmissionV1 {
    var tag: String?
    var array: Bool?
    var first: Run?
    var rest: [IntentRunV1]?
    var grid: IntentGridV1?
    try p.object(depth: depth) { p, key in
      switch key {
      case "grid":
        var g = IntentGridV1(sweep: "", base: "", command: "", params: [], from: -1, count: -1)
        var seen = 0
        try p.object(depth: depth + 1) { p, key in
          seen += 1
          switch key {
          case "sweep": g.sweep = try p.req(p.string())
          case "base": g.base = try p.req(p.string())
          case "command": g.command = try p.req(p.string())
          case "from": g.from = try p.req(p.int())
          case "count": g.count = try p.req(p.int())
          case "params":
            g.params = try p.req(
              p.array(depth: depth + 2) { p in
                var name: String?
                var values: [String]?
                try p.object(depth: depth + 3) { p, key in
                  switch key {
                  case "name": name = try p.string()
                  case "values": values = try p.strings(depth: depth + 4)
                  default: try p.skipValue(depth: depth + 4)
                  }
                }
                return GridParameter(name: try p.req(name), values: try p.req(values))
              })
          default:
            seen -= 1
            try p.skipValue(depth: depth + 2)
          }
        }
        guard seen == 6, g.from >= 0, g.count >= 1 else {
          throw p.fail("a grid of the intent lacks its fields")
        }
        grid = g
      case "tag": tag = try p.string()
      case "array": array = try p.bool()
      case "first": first = try run(&p, depth: depth + 1)
      case "rest":
        rest = try p.array(depth: depth + 1, reserve: p.bytes.count / 64) { p in
          var r = IntentRunV1()
          try p.object(depth: depth + 2) { p, key in
            switch key {
            case "id": r.id = try p.string()
            case "name": r.name = try p.string()
            case "command": r.command = try p.string()
            case "params": r.params = try p.array(depth: depth + 3) { p in try p.strings(depth: depth + 4) }
            case "run": r.run = try run(&p, depth: depth + 3)
            default: try p.skipValue(depth: depth + 3)
            }
          }
          guard r.run != nil || (r.id != nil && r.name != nil && r.command != nil && r.params != nil) else {
            throw p.fail("a run of the intent lacks its fields")
          }
          return r
        }
      default: try p.skipValue(depth: depth + 1)
      }
    }
    guard let tag, let array, let first, let rest else { throw p.fail("a submission lacks its fields") }
    return IntentSubmissionV1(tag: tag, array: array, first: first, rest: rest, grid: grid)
  }

  /// The runs an intent file records, submission by submission, as they were
  /// when it was written.
  static func runs(of file: IntentFileV1) -> [(tag: String, runs: [Run])] {
    file.submissions.map { s in
      var runs = [s.first]
      if let g = s.grid {
        let fill = GridFill(grid: g.params, command: g.command, base: g.base, sweep: g.sweep)
        runs.reserveCapacity(g.count)
        for k in 1..<max(1, g.count) {
          let f = fill.fields(g.from + k)
          var r = s.first
          r.id = f.id
          r.name = f.name
          r.command = f.command
          r.params = f.params
          r.arrayIndex = s.array ? k : nil
          runs.append(r)
        }
        return (s.tag, runs)
      }
      runs.reserveCapacity(s.rest.count + 1)
      for (k, x) in s.rest.enumerated() {
        if let whole = x.run {
          runs.append(whole)
          continue
        }
        var r = s.first
        r.id = x.id ?? r.id
        r.name = x.name ?? r.name
        r.command = x.command ?? r.command
        r.params = x.params ?? r.params
        r.arrayIndex = s.array ? k + 1 : nil
        runs.append(r)
      }
      return (s.tag, runs)
    }
  }
}

extension Store {
  public var intentsDir: String { dir + "/intents" }

  func intentPath(_ tag: String) -> String { intentsDir + "/" + tag + ".json" }

  /// Records, on stable storage, the submissions a tick is about to give sbatch:
  /// what makes "every run is `submitting` under its tag on disk before sbatch may
  /// read a script" true while the whole state is still being written. Named by
  /// the first submission's tag; returns the file's path.
  func writeIntent(
    _ state: ActiveState, _ submissions: [IntentSubmission], fills: [String: GridFill] = [:]
  ) throws -> String {
    try Files.makeDirectory(intentsDir, mode: dirMode)
    let path = intentPath(submissions[0].tag)
    let bytes = StateCodec.encodeIntent(state, submissions, fills: fills)
    Trace.mark("intent encoded")
    try Files.writeAtomically(path, buffers: [bytes], mode: fileMode, durability: .synced)
    return path
  }

  /// Brings back the submissions of intents whose tick died before `active.json`
  /// listed their runs: each run `submitting` under its tag (added, or a queued
  /// run updated), so the sync finds its job by the tag or puts it back in the
  /// queue. An intent whose tag the state knows already is stale.
  func applyIntents(_ state: inout ActiveState) throws -> (recovered: [String], stale: [String]) {
    let names = Files.list(intentsDir).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
    guard !names.isEmpty else { return ([], []) }
    var known = Set<String>()
    for i in state.runs.indices { if let t = state.runs[i].submission { known.insert(t) } }
    var recovered: [String] = []
    var stale: [String] = []
    var files: [(path: String, file: IntentFileV1)] = []
    for name in names {
      let path = intentsDir + "/" + name
      let data = try Files.read(path)
      let fix =
        "remove it only if its jobs are known to be gone (it records submissions sbatch may have accepted)"
      if let fast = StateCodec.decodeIntent(data) {
        files.append((path, fast))
        continue
      }
      let probe: VersionProbe
      do { probe = try JSONDecoder().decode(VersionProbe.self, from: data) } catch {
        throw StoreError.corrupt(path: path, message: "not a sluice intent; \(fix)")
      }
      guard probe.version == Self.formatVersion else {
        throw StoreError.unknownVersion(path: path, version: probe.version)
      }
      do { files.append((path, try JSONDecoder().decode(IntentFileV1.self, from: data))) } catch {
        throw StoreError.corrupt(path: path, message: "\(error); \(fix)")
      }
    }
    for (path, file) in files {
      let submissions = StateCodec.runs(of: file)
      if submissions.contains(where: { known.contains($0.tag) }) {
        stale.append(path)
        continue
      }
      for sw in file.sweeps where !state.sweeps.contains(where: { $0.id == sw.id }) {
        state.sweeps.append(sw)
      }
      var index = state.indexByID()
      for (_, runs) in submissions {
        for r in runs {
          if let i = index[r.id] {
            // The run as it was before the tick: only a queued one went out.
            guard state.runs[i].state == .queued else { continue }
            state.runs[i] = r
          } else {
            index[r.id] = state.runs.count
            state.runs.append(r)
          }
        }
      }
      recovered.append(path)
    }
    return (recovered, stale)
  }
}
