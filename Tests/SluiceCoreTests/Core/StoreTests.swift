import XCTest

@testable import SluiceCore

final class StoreTests: XCTestCase {
  func run(_ id: String, _ state: RunState = .queued, sweep: String? = "s") -> Run {
    var r = Run(id: id, name: id, sweep: sweep, command: "echo \(id)", created: "2026-01-01T00:00:00Z")
    r.state = state
    return r
  }

  func testSaveLoadArchiveAndSummaries() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    var s = ActiveState()
    s.sweeps = [Sweep(id: "s", name: "s", created: "now")]
    s.runs = [run("a", .completed), run("b", .running), run("c", .queued)]
    try store.save(&s)
    XCTAssertEqual(s.runs.map(\.id), ["b", "c"], "finished runs leave the active file")
    XCTAssertEqual(s.sweeps[0].archived, ["completed": 1])
    let loaded = try store.loadActive()
    XCTAssertEqual(loaded, s)
    XCTAssertEqual(try store.allSummaries(active: loaded).map(\.id), ["a", "b", "c"])
    XCTAssertEqual(try store.findRun("a", active: loaded)?.state, .completed)
    // Retry: the archived run comes back; the newest record wins.
    var l2 = loaded
    let back = try store.unarchive("a", active: &l2)
    XCTAssertEqual(back?.id, "a")
    XCTAssertEqual(l2.sweeps[0].archived, [:])
    var mod = l2
    mod.runs[mod.runs.firstIndex { $0.id == "a" }!].state = .failed
    try store.save(&mod)
    let all = try store.allSummaries(active: mod)
    XCTAssertEqual(all.filter { $0.id == "a" }.map(\.state), [.failed])
  }

  func testReceiptIsAppliedOnLoadAndFoldedByTheNextSave() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    var s = ActiveState()
    s.eventSeq = 3
    var a = run("a", .submitting)
    a.submission = "slA"
    a.arrayIndex = 0
    var b = run("b", .submitting)
    b.submission = "slA"
    b.arrayIndex = 1
    var c = run("c", .submitting)
    c.submission = "slC"  // not in the receipt: left as it is
    var d = run("d", .running)
    d.submission = "slA"  // moved on: a receipt does not take it back
    d.jobID = "5_9"
    s.runs = [a, b, c, d]
    try store.save(&s)
    let onDisk = try Files.read(store.activePath)
    try store.writeReceipt(
      Receipt(
        eventSeq: 7,
        submissions: [
          SubmissionReceipt(
            tag: "slA", job: 41, array: true, submitted: "2026-12-02T00:00:00.000Z",
            stdout: "/l/%x-%A_%a.out",
            stderr: "/l/%A_%a.err")
        ]))
    XCTAssertEqual(try Files.read(store.activePath), onDisk, "a receipt leaves the state file alone")
    let other = Store(dir: dir + "/.sluice")
    var loaded = try other.loadActive()
    XCTAssertEqual(loaded.eventSeq, 7)
    XCTAssertEqual(loaded.runs.map(\.state), [.pending, .pending, .submitting, .running])
    XCTAssertEqual(loaded.runs.map(\.jobID), ["41_0", "41_1", nil, "5_9"])
    XCTAssertEqual(loaded.runs[1].arrayJobID, 41)
    XCTAssertEqual(loaded.runs[1].submitted, "2026-12-02T00:00:00.000Z")
    XCTAssertEqual(loaded.runs[1].stdoutPath, "/l/%x-41_1.out")
    XCTAssertEqual(loaded.runs[1].stderrPath, "/l/41_1.err")
    // What the engine does in memory is what the receipt does on load.
    var direct = a
    direct.markSubmitted(
      job: 41, array: true, at: "2026-12-02T00:00:00.000Z", out: LogPattern("/l/%x-%A_%a.out"),
      err: LogPattern("/l/%A_%a.err"))
    XCTAssertEqual(loaded.runs[0], direct)
    // The next save writes it all into active.json and removes the receipt.
    try other.save(&loaded)
    XCTAssertEqual(Files.list(store.receiptsDir), [])
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive(), loaded)
  }

  /// The runs of a tick that died after writing its intent and before
  /// `active.json` listed them come back from the intent as they were marked: grid
  /// siblings from four fields, a run that differs in more in full, a queued run
  /// already on disk updated in place; the next save folds them in and drops it.
  func testIntentBringsBackTheRunsOfATickThatDiedBeforeItsSave() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    var before = ActiveState()
    before.sweeps = [Sweep(id: "old", name: "old", created: "then")]
    var retry = run("old.0", sweep: "old")
    retry.attempt = 1
    retry.history = [Attempt(attempt: 0, jobID: "9", state: .failed, exitCode: 3)]
    before.runs = [retry, run("other")]
    try store.save(&before)
    // The tick: a new sweep of five grid runs, and the retried run, marked.
    var s = before
    s.sweeps.append(Sweep(id: "g", name: "g", goal: "Grid", created: "now", task: "g"))
    for k in 0..<5 {
      var r = run("g.\(k)", sweep: "g")
      r.name = "g[i=\(k)]"
      r.params = [["i", String(k)]]
      r.resources = Resources(gpus: 1, time: "5", partition: "debug")
      s.runs.append(r)
    }
    s.runs[3].env = ["ODD=1"]  // differs in more than a grid changes
    let grid = Array(2..<7)
    for (k, i) in grid.enumerated() {
      s.runs[i].state = .submitting
      s.runs[i].submission = "slG"
      s.runs[i].scriptPath = "/x/slG.sh"
      s.runs[i].arrayIndex = k
    }
    s.runs[0].state = .submitting
    s.runs[0].submission = "slR"
    s.runs[0].scriptPath = "/x/slR.sh"
    let path = try store.writeIntent(
      s,
      [
        IntentSubmission(tag: "slG", isArray: true, positions: grid),
        IntentSubmission(tag: "slR", isArray: false, positions: [0]),
      ])
    XCTAssertEqual(path, store.intentsDir + "/slG.json")
    let text = try Files.readText(path)
    XCTAssertEqual(
      text.components(separatedBy: "\"resources\"").count - 1, 3, "first runs and the odd one in full")
    // Read by hand as Codable reads it.
    let data = try Files.read(path)
    let fast = try XCTUnwrap(StateCodec.decodeIntent(data))
    let slow = try JSONDecoder().decode(IntentFileV1.self, from: data)
    XCTAssertEqual(fast.sweeps, slow.sweeps)
    XCTAssertEqual(StateCodec.runs(of: fast).map(\.runs), StateCodec.runs(of: slow).map(\.runs))
    XCTAssertEqual(StateCodec.runs(of: fast).map(\.tag), ["slG", "slR"])
    XCTAssertNil(
      StateCodec.decodeIntent(Data(text.replacingOccurrences(of: "\"tag\"", with: "\"tog\"").utf8)))
    // A later command, as if the tick had died here.
    let later = Store(dir: dir + "/.sluice")
    var loaded = try later.loadActive()
    XCTAssertEqual(loaded.sweeps, s.sweeps)
    XCTAssertEqual(loaded.runs, s.runs)
    try later.save(&loaded)
    XCTAssertFalse(Files.exists(path), "folded into active.json")
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive(), s)
  }

  /// Runs a tick expanded from a grid and submits as they were made go into the
  /// intent as their grid (a few hundred bytes for 600 runs), and come back the
  /// same, read by hand or by Codable; a chunk that starts mid-grid too.
  func testIntentRecordsFreshGridRunsByTheirGrid() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    let values = (0..<300).map { "v \($0)" }.joined(separator: ", ")
    let doc = try TasksParser.parse(
      Data("## P\n- [ ] G\n  - run: `x {a} {b}`\n  - grid: a = \(values); b = 1, it's\n".utf8), path: "t.md")
    var s = ActiveState()
    s.runs = [run("old")]
    var fills: [String: GridFill] = [:]
    Expander.expand(document: doc, state: &s, config: Config(), now: Date(), fills: &fills)
    XCTAssertEqual(s.runs.count, 601)
    let chunks = [Array(1..<401), Array(401..<601)]
    for (c, at) in chunks.enumerated() {
      for (k, i) in at.enumerated() {
        s.runs[i].state = .submitting
        s.runs[i].submission = "slG\(c)"
        s.runs[i].scriptPath = "/x/slG\(c).sh"
        s.runs[i].arrayIndex = k
      }
    }
    let path = try store.writeIntent(
      s, chunks.enumerated().map { IntentSubmission(tag: "slG\($0)", isArray: true, positions: $1) },
      fills: fills)
    let data = try Files.read(path)
    XCTAssertLessThan(data.count, 8_000, "by the grid, not run by run")
    let fast = try XCTUnwrap(StateCodec.decodeIntent(data))
    let slow = try JSONDecoder().decode(IntentFileV1.self, from: data)
    XCTAssertEqual(fast.submissions.map(\.grid), slow.submissions.map(\.grid))
    XCTAssertEqual(fast.submissions.map(\.grid?.from), [0, 400])
    XCTAssertEqual(StateCodec.runs(of: fast).flatMap(\.runs), Array(s.runs[1...]))
    XCTAssertEqual(StateCodec.runs(of: slow).flatMap(\.runs), Array(s.runs[1...]))
    // A run changed since it was made is not what its grid says: run by run then.
    var changed = s
    changed.runs[600].attempt = 1
    let other = StateCodec.encodeIntent(
      changed, [IntentSubmission(tag: "slG1", isArray: true, positions: chunks[1])], fills: fills)
    let back = try XCTUnwrap(StateCodec.decodeIntent(Data(other.array)))
    XCTAssertNil(back.submissions[0].grid)
    XCTAssertEqual(StateCodec.runs(of: back)[0].runs, Array(changed.runs[401...]))
  }

  /// An intent whose tag `active.json` lists is stale: it changes nothing, and goes
  /// before the save that could stop listing its runs (here: archives them).
  func testStaleIntentNeverBringsBackArchivedRuns() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    var s = ActiveState()
    var a = run("a", .submitting)
    a.submission = "slA"
    s.runs = [a]
    let path = try store.writeIntent(s, [IntentSubmission(tag: "slA", isArray: false, positions: [0])])
    try store.save(&s)
    var loaded = try store.loadActive()
    XCTAssertEqual(loaded.runs, [a])
    loaded.runs[0].state = .completed
    try store.save(&loaded)
    XCTAssertFalse(Files.exists(path))
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive().runs, [])
    XCTAssertEqual(try store.allSummaries(active: ActiveState()).map(\.state), [.completed])
  }

  /// `gridSibling` compares every stored property of a run that a grid does not
  /// change: one added to `Run` must be added to it, or an intent would lose it.
  func testGridSiblingKnowsEveryFieldOfARun() {
    let fields = Set(Mirror(reflecting: run("a")).children.compactMap(\.label))
    XCTAssertEqual(StateCodec.siblingFields.union(StateCodec.gridFields), fields)
    XCTAssertTrue(StateCodec.siblingFields.isDisjoint(with: StateCodec.gridFields))
    var a = run("a")
    a.params = [["i", "1"]]
    var b = run("b")
    b.arrayIndex = 4
    XCTAssertTrue(StateCodec.gridSibling(b, of: a))
    var c = b
    c.attempt = 1
    XCTAssertFalse(StateCodec.gridSibling(c, of: a))
    c = b
    c.stdoutPath = "/x"
    XCTAssertFalse(StateCodec.gridSibling(c, of: a))
  }

  func testBadIntentIsAClearErrorThatNamesIt() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    try Files.makeDirectory(store.intentsDir, mode: 0o700)
    write(store.intentsDir + "/slX.json", "{\"version\":1,\"submissions\":[{}]}")
    XCTAssertThrowsError(try store.loadActive()) { e in
      let text = "\(e)"
      XCTAssertTrue(text.hasPrefix(store.intentsDir + "/slX.json: "), text)
      XCTAssertTrue(text.contains("sbatch may have accepted"), text)
    }
    write(store.intentsDir + "/slX.json", "{\"version\":9}")
    XCTAssertThrowsError(try store.loadActive()) { e in
      XCTAssertEqual(e as? StoreError, .unknownVersion(path: store.intentsDir + "/slX.json", version: 9))
    }
  }

  func testBadReceiptIsAClearErrorThatNamesIt() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    try store.prepare()
    try Files.makeDirectory(store.receiptsDir)
    let path = store.receiptsDir + "/sl1.json"
    write(path, "{\"version\": 1, \"event_seq\": \"x\"}")
    XCTAssertThrowsError(try store.loadActive()) { e in
      guard case .corrupt(let p, let m)? = e as? StoreError else { return XCTFail("\(e)") }
      XCTAssertEqual(p, path)
      XCTAssertTrue(m.contains("remove it"), m)
    }
    write(path, "{\"version\": 9}")
    XCTAssertThrowsError(try store.loadActive()) { e in
      XCTAssertEqual(e as? StoreError, .unknownVersion(path: path, version: 9))
    }
  }

  /// A state with every kind of field set, escapes and non-ASCII text in it.
  func richState() -> ActiveState {
    var s = ActiveState()
    s.sweeps = [Sweep(id: "s", name: "s", goal: "g \"q\" é", created: "t", task: "p1-s")]
    s.sweeps[0].archived = ["completed": 3, "failed": 1]
    var r = run("a", .running)
    r.params = [["lr", "1e-3"], ["tag", "a b"]]
    r.resources = Resources(
      gpus: 2, cpus: 4, mem: "16G", time: "1:00:00", partition: "gpu", account: "x", qos: "q",
      constraint: "a&b", nodes: 1, ntasks: 2)
    r.env = ["A=1", "B=é ✓ \n \t \\ \u{1}"]
    r.setup = ["module load x"]
    r.jobID = "12_3"
    r.arrayJobID = 12
    r.arrayIndex = 3
    r.exitCode = 2
    r.pid = 42
    r.pidStart = 123_456
    r.array = false
    r.history = [Attempt(attempt: 0, jobID: "9", state: .nodeFail, exitCode: nil, reason: "node", ended: "t")]
    s.runs = [r, run("b"), run("c", .completed)]
    s.archiveSeq = 4
    s.eventSeq = 9
    s.runSeq = 2
    return s
  }

  func testFastCodecReadsAndWritesWhatCodableDoes() throws {
    let s = richState()
    let fast = StateCodec.encodeActive(s).reduce(into: Data()) { d, b in b.withBytes { d.append($0) } }
    let viaCodable = try JSONDecoder().decode(ActiveFileV1.self, from: fast)
    XCTAssertEqual(viaCodable.runs, s.runs)
    XCTAssertEqual(viaCodable.sweeps, s.sweeps)
    XCTAssertEqual(viaCodable.version, 1)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let codable = try enc.encode(
      ActiveFileV1(version: 1, sweeps: s.sweeps, runs: s.runs, archive_seq: 4, event_seq: 9, run_seq: 2))
    XCTAssertEqual(StateCodec.decodeActive(codable), s)
    XCTAssertEqual(StateCodec.decodeActive(fast), s)
    // Keys in any order, escaped, or unknown (a later version's) still read.
    let odd = """
      {"version":1,"archive_seq":4,"event_seq":9,"run_seq":2,"sweeps":[],"runs":[
      {"future":{"x":[1,"}",null]},"st\\u0061te":"running","name":"n","id":"a","command":"c",
       "created":"t","attempt":0,"params":[],"resources":{},"env":[],"setup":[],"history":[]}]}
      """
    let oddState = StateCodec.decodeActive(Data(odd.utf8))
    XCTAssertEqual(try JSONDecoder().decode(ActiveFileV1.self, from: Data(odd.utf8)).runs, oddState?.runs)
    XCTAssertEqual(oddState?.runs.first?.state, .running)
    XCTAssertEqual(oddState?.runs.first?.id, "a")
    XCTAssertNil(
      StateCodec.decodeActive(Data(odd.replacingOccurrences(of: "\"attempt\":0,", with: "").utf8)),
      "a run without its attempt is damaged")
    XCTAssertNil(StateCodec.decodeActive(Data("{\"version\": 2}".utf8)))
    XCTAssertNil(StateCodec.decodeActive(Data("{\"version\": 1, \"runs\": 5}".utf8)), "damaged is not empty")
    for bad in ["", "{", "[1,", "{\"a\":tru}", "\"\\u12\"", String(repeating: "[", count: 200)] {
      XCTAssertNil(StateCodec.decodeActive(Data(bad.utf8)), bad)
    }
  }

  func testSlurmFactsReadByHandAsCodableWroteThem() throws {
    var f = SlurmFacts(version: 1, fetched: 1_764_615_314.25)
    f.maxArraySize = 1001
    f.minJobAge = 30
    f.maxSubmitJobs = 40
    f.maxSubmitJobsSource = "qos \"limited\" MaxSubmitJobsPerUser"
    f.accounting = true
    XCTAssertEqual(SlurmFacts.decode(try JSONEncoder().encode(f)), f)
    let bare = SlurmFacts(version: 1, fetched: 5)
    XCTAssertEqual(SlurmFacts.decode(try JSONEncoder().encode(bare)), bare)
    XCTAssertNil(SlurmFacts.decode(Data("{\"version\":1}".utf8)), "no fetch time: refetch")
    XCTAssertNil(SlurmFacts.decode(Data("{\"version\":1,\"fetched\":\"x\"}".utf8)))
    XCTAssertNil(SlurmFacts.decode(Data("not json".utf8)))
  }

  func testTimestampsWriteWhatTheFormatterWrites() {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var g = SystemRandomNumberGenerator()
    var samples: [Double] = [
      0, 0.001, 0.999, 59.9995, 86_399.999, 951_782_400, 1_764_615_314.36, 4_102_444_800.5,
    ]
    for _ in 0..<2000 { samples.append(Double(UInt64.random(in: 0..<253_402_300_799_000, using: &g)) / 1000) }
    for t in samples {
      let d = Date(timeIntervalSince1970: t)
      XCTAssertEqual(Timestamps.iso(d), f.string(from: d), "\(t)")
    }
  }

  func testTimestampsParseWhatTheyWrite() {
    for t in [0.0, 1.5, 1_764_615_314.36, 4_102_444_800.999, 951_782_400] {
      let d = Date(timeIntervalSince1970: t)
      XCTAssertEqual(Timestamps.parse(Timestamps.iso(d))?.timeIntervalSince1970 ?? -1, t, accuracy: 0.001)
    }
    XCTAssertEqual(Timestamps.parse("2026-12-01T19:55:14Z")?.timeIntervalSince1970, 1_796_154_914)
    XCTAssertEqual(Timestamps.parse("2026-12-01T20:55:14+01:00")?.timeIntervalSince1970, 1_796_154_914)
    XCTAssertNil(Timestamps.parse("2026-13-01T19:55:14Z"))
    XCTAssertNil(Timestamps.parse("yesterday"))
  }

  func testFileModes() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir + "/.sluice")
    var s = ActiveState()
    s.runs = [run("a")]
    try store.save(&s)
    var st = stat()
    stat(store.activePath, &st)
    XCTAssertEqual(st.st_mode & 0o777, 0o600)
    stat(store.dir, &st)
    XCTAssertEqual(st.st_mode & 0o777, 0o700)
  }

  func testUnknownVersionIsAClearError() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir)
    write(store.activePath, "{\"version\": 7, \"runs\": []}")
    XCTAssertThrowsError(try store.loadActive()) { e in
      XCTAssertEqual(e as? StoreError, .unknownVersion(path: store.activePath, version: 7))
      XCTAssertTrue("\(e)".contains("upgrade sluice"))
    }
    write(store.activePath, "{not json")
    XCTAssertThrowsError(try store.loadActive()) { e in
      guard case .corrupt = e as? StoreError else { return XCTFail("\(e)") }
    }
  }

  func testEventsCursorSeesEachEventOnce() throws {
    let dir = makeTempDir(self)
    let store = Store(dir: dir)
    var s = ActiveState()
    try store.appendEvents([Event(time: "t", kind: "a"), Event(time: "t", kind: "b")], state: &s)
    try store.appendEvents([Event(time: "t", kind: "c")], state: &s)
    XCTAssertEqual(try store.events(since: 0).map(\.kind), ["a", "b", "c"])
    XCTAssertEqual(try store.events(since: 2).map(\.kind), ["c"])
    XCTAssertEqual(try store.events(since: 3).map(\.kind), [])
  }

  func testLockRecordsHolderAndRefusesSecondTaker() throws {
    let dir = makeTempDir(self)
    let a = ProjectLock(path: dir + "/lock")
    try a.acquire(command: "tick")
    let text = read(dir + "/lock")
    XCTAssertTrue(
      text.contains("pid=\(getpid())") && text.contains("host=") && text.contains("started="), text)
    // flock locks belong to the open file description, so a second open in this process conflicts too.
    let b = ProjectLock(path: dir + "/lock")
    XCTAssertThrowsError(try b.acquire(command: "tick")) { e in
      guard case .busy(_, let holder) = e as? LockError else { return XCTFail("\(e)") }
      XCTAssertEqual(holder?.pid, getpid())
    }
    a.release()
    try b.acquire(command: "tick")
    XCTAssertNil(b.recoveredFrom, "a cleanly released lock is not stale")
    b.release()
  }

  func testStaleLockIsRecoveredWithItsHolderNamed() throws {
    let dir = makeTempDir(self)
    write(dir + "/lock", "host=login1 pid=999999 started=2026-01-01T00:00:00Z command=tick\n")
    let l = ProjectLock(path: dir + "/lock")
    try l.acquire(command: "tick")
    XCTAssertEqual(l.recoveredFrom?.pid, 999999)
    XCTAssertEqual(l.recoveredFrom?.host, "login1")
    l.release()
  }

  /// Kills a real sluice process at random moments while it writes the store;
  /// the store must always load, and every run recorded before stays.
  func testKilledWriterNeverCorruptsTheStore() throws {
    let dir = makeTempDir(self)
    XCTAssertEqual(sluice(["init"], cwd: dir).code, 0)
    var recorded = 0
    let store = Store(dir: dir + "/.sluice")
    for i in 0..<12 {
      var env = ProcessInfo.processInfo.environment
      env["HOME"] = dir
      let argv = [
        sluiceBinary, "grid", "--tasks", dir + "/tasks.md", "--sweep", "k\(i)", "--command", "echo {a} {b}",
        "--param", "a=" + (0..<40).map(String.init).joined(separator: ","), "--param",
        "b=" + (0..<10).map(String.init).joined(separator: ","),
      ]
      var pid: pid_t = 0
      let rc = withCStrings(argv) { a in
        withCStrings(env.map { "\($0)=\($1)" }) { e in spawnQuiet(&pid, argv[0], a, e) }
      }
      XCTAssertEqual(rc, 0)
      usleep(useconds_t(Int.random(in: 5_000...250_000)))
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
      let state = try store.loadActive()  // must not throw
      XCTAssertGreaterThanOrEqual(state.runs.count, recorded, "no run lost")
      XCTAssertTrue(
        [recorded, recorded + 400].contains(state.runs.count), "all or nothing: \(state.runs.count)")
      recorded = state.runs.count
      let leftovers = Files.list(store.dir).filter { $0.contains(".tmp.") }
      for l in leftovers { Files.remove(store.dir + "/" + l) }
    }
  }

  func testConcurrentWritersLoseNothing() throws {
    let dir = makeTempDir(self)
    XCTAssertEqual(sluice(["init"], cwd: dir).code, 0)
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = dir
    var pids: [pid_t] = []
    for i in 0..<8 {
      let argv = [
        sluiceBinary, "run", "add", "--tasks", dir + "/tasks.md", "--name", "r\(i)", "--command", "echo \(i)",
      ]
      var pid: pid_t = 0
      let fa: UnsafeMutablePointer<posix_spawn_file_actions_t>? = nil
      _ = withCStrings(argv) { a in
        withCStrings(env.map { "\($0)=\($1)" }) { e in posix_spawn(&pid, argv[0], fa, nil, a, e) }
      }
      pids.append(pid)
    }
    for p in pids {
      var st: Int32 = 0
      waitpid(p, &st, 0)
      XCTAssertEqual((st >> 8) & 0xff, 0, "each writer waits for the lock and succeeds")
    }
    let state = try Store(dir: dir + "/.sluice").loadActive()
    XCTAssertEqual(Set(state.runs.map(\.name)), Set((0..<8).map { "r\($0)" }))
  }

  /// The JSON writers' numbers and strings, typed and untyped alike: digits made in
  /// place (negative, zero, the extremes) and strings escaped.
  func testEscapeScanAgreesWithTheByteByByteOne() {
    func naive(_ b: [UInt8]) -> Bool { b.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C } }
    // Every byte value at every position of buffers up to 19 bytes, over plain,
    // high (UTF-8 continuation) and mixed fillers.
    for filler: UInt8 in [0x61, 0x80, 0xFF, 0x21, 0x5D] {
      for n in 0..<20 {
        for at in 0..<max(n, 1) {
          for v in 0...255 {
            var b = [UInt8](repeating: filler, count: n)
            if n > 0 { b[at] = UInt8(v) }
            let fast = b.withUnsafeBufferPointer { JSONWriter.needsEscape($0) }
            if fast != naive(b) { return XCTFail("\(b): \(fast)") }
          }
        }
      }
    }
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      let b = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0x1C...0x7F, using: &rng)
      }
      XCTAssertEqual(b.withUnsafeBufferPointer { JSONWriter.needsEscape($0) }, naive(b), "\(b)")
    }
  }

  func testPairsWriteWhatObjectsOfTwoStringsWrite() {
    let rows = [("12_0", "g.0"), ("12_1", "a \"quoted\"\nrun"), ("", "")]
    for rows in [rows, []] {
      let objects: JSONValue = .array(rows.map { ["job_id": .string($0.0), "run": .string($0.1)] })
      let pairs: JSONValue = .pairs("job_id", "run", rows)
      XCTAssertEqual(JSON.string(["a": 1, "submitted": pairs]), JSON.string(["a": 1, "submitted": objects]))
    }
  }

  func testJSONWriterNumbersAndStrings() {
    let ints = [0, 7, 10, -1, -42, 1_000_000, Int.max, Int.min]
    let typed: JSONValue = [
      "ints": .array(ints.map { .int($0) }), "s": "a\"b\\c\n\u{1}é", "none": .null, "yes": true,
      "list": .strings(["x"]),
    ]
    let text = JSON.string(typed)
    XCTAssertEqual(
      text,
      "{\n  \"ints\" : [\n    0,\n    7,\n    10,\n    -1,\n    -42,\n    1000000,\n    9223372036854775807,\n"
        + "    -9223372036854775808\n  ],\n  \"list\" : [\n    \"x\"\n  ],\n  \"none\" : null,\n"
        + "  \"s\" : \"a\\\"b\\\\c\\n\\u0001é\",\n  \"yes\" : true\n}")
    let untyped: [String: Any?] = [
      "ints": ints, "s": "a\"b\\c\n\u{1}é", "none": nil, "yes": true, "list": ["x"],
    ]
    XCTAssertEqual(JSON.string(untyped as Any), text, "the Any writer writes the same")
    let back = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    XCTAssertEqual(back?["ints"] as? [Int], ints)
    XCTAssertEqual(back?["s"] as? String, "a\"b\\c\n\u{1}é")
  }

  /// A big state is encoded by several threads at once: the file is the same, byte
  /// for byte, as one thread writes, for any number of pieces, and reads back whole.
  func testStateEncodedInPiecesIsTheSameFile() throws {
    var s = ActiveState()
    s.sweeps = [Sweep(id: "p1-g", name: "g", goal: "G", created: "t", task: "p1-g")]
    s.runs = (0..<1_237).map { i in
      var r = run("p1-g.\(i)", i % 3 == 0 ? .running : .queued)
      r.command = "python train.py --seed \(i) 'é ✓'"
      r.params = [["seed", String(i)]]
      if i % 5 == 0 { r.env = ["K=\(i)\n"] }
      return r
    }
    s.eventSeq = 77
    func file(_ parts: Int) -> Data {
      StateCodec.encodeActive(s, parts: parts).reduce(into: Data()) { d, b in b.withBytes { d.append($0) } }
    }
    let one = file(1)
    for parts in [2, 3, 4, 8] { XCTAssertEqual(file(parts), one, "\(parts) pieces") }
    XCTAssertEqual(StateCodec.decodeActive(file(3)), s)
    XCTAssertEqual(try JSONDecoder().decode(ActiveFileV1.self, from: file(4)).runs, s.runs)
    // And through the store, which picks the number of pieces itself.
    let store = Store(dir: makeTempDir(self) + "/.sluice")
    try store.save(&s)
    XCTAssertEqual(try Files.read(store.activePath), one)
  }
}
