import XCTest

@testable import SluiceCore

/// The hand-written readers of sluice's own files (the state, intents, the Slurm
/// facts cache) against damaged bytes: every truncation, and thousands of seeded
/// random edits, of real files. None may crash, and what a fast reader accepts
/// Codable must read the same: a damaged file may be refused (and then explained by
/// Codable), never read as something it did not say.
extension StoreTests {
  /// `data`'s truncations, then `count` edits of it (a byte changed, dropped or
  /// added, JSON's own characters most often).
  func damaged(_ data: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
    var out = (0..<data.count).map { Array(data[..<$0]) }
    var rng = SeededRandom(state: seed)
    let significant = Array("{}[]\",:\\0123456789-.etfnrlu ".utf8) + [0x00, 0x0A, 0x7F, 0xC3, 0xFF]
    for _ in 0..<count {
      var d = data
      for _ in 0...Int.random(in: 0..<3, using: &rng) {
        let at = Int.random(in: 0..<d.count, using: &rng)
        let b =
          Bool.random(using: &rng)
          ? significant.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: d[at] = b
        case 1: d.remove(at: at)
        default: d.insert(b, at: at)
        }
        if d.isEmpty { break }
      }
      out.append(d)
    }
    return out
  }

  /// Every damaged copy of `file` through `fast`, and what it accepts through
  /// Codable (`Slow`), which must accept it too and read the same (`same`, asserting).
  /// Returns how many copies `fast` accepted.
  @discardableResult
  func checkAgainstCodable<Fast, Slow: Decodable>(
    _ file: [UInt8], count: Int = 4000, seed: UInt64, fast: (Data) -> Fast?, as: Slow.Type,
    same: (Fast, Slow, String) -> Void
  ) -> Int {
    var accepted = 0
    for d in damaged(file, count: count, seed: seed) {
      guard let f = fast(Data(d)) else { continue }
      accepted += 1
      let text = String(decoding: d, as: UTF8.self).debugDescription
      do { same(f, try JSONDecoder().decode(Slow.self, from: Data(d)), text) } catch {
        XCTFail("the fast reader accepted what Codable refuses (\(error)): \(text)")
        break
      }
    }
    return accepted
  }

  func testStateReaderSurvivesDamageAndAgreesWithCodable() throws {
    let s = richState()
    let file = StateCodec.encodeActive(s).flatMap(\.array)
    XCTAssertEqual(StateCodec.decodeActive(Data(file)), s, "the undamaged file reads back")
    let accepted = checkAgainstCodable(file, seed: 1, fast: StateCodec.decodeActive, as: ActiveFileV1.self) {
      fast, slow, text in
      XCTAssertEqual(fast.runs, slow.runs, text)
      XCTAssertEqual(fast.sweeps, slow.sweeps, text)
      XCTAssertEqual(
        [fast.archiveSeq, fast.eventSeq, fast.runSeq], [slow.archive_seq, slow.event_seq, slow.run_seq], text)
    }
    XCTAssertGreaterThan(accepted, 0, "some edits (inside a string, say) leave a readable file")
  }

  func testIntentReaderSurvivesDamageAndAgreesWithCodable() throws {
    var s = richState()
    s.runs = [s.runs[1]]
    let doc = try TasksParser.parse(
      Data("## P\n- [ ] G\n  - run: `x {a} {b}`\n  - grid: a = 1, 2, 3; b = \"it's\", é\n".utf8), path: "t.md"
    )
    var fills: [String: GridFill] = [:]
    Expander.expand(document: doc, state: &s, config: Config(), now: Date(), fills: &fills)
    for (k, i) in (1..<7).enumerated() {
      s.runs[i].state = .submitting
      s.runs[i].submission = "slG"
      s.runs[i].arrayIndex = k
    }
    s.runs[0].state = .submitting
    s.runs[0].submission = "slR"
    let file = StateCodec.encodeIntent(
      s,
      [
        IntentSubmission(tag: "slG", isArray: true, positions: Array(1..<7)),
        IntentSubmission(tag: "slR", isArray: false, positions: [0]),
      ], fills: fills
    ).array
    XCTAssertNotNil(try XCTUnwrap(StateCodec.decodeIntent(Data(file))).submissions[0].grid, "by its grid")
    let accepted = checkAgainstCodable(file, seed: 2, fast: StateCodec.decodeIntent, as: IntentFileV1.self) {
      fast, slow, text in
      XCTAssertEqual(fast.sweeps, slow.sweeps, text)
      XCTAssertEqual(StateCodec.runs(of: fast).map(\.runs), StateCodec.runs(of: slow).map(\.runs), text)
    }
    XCTAssertGreaterThan(accepted, 0)
  }

  func testFactsReaderSurvivesDamageAndAgreesWithCodable() throws {
    let file = Array(
      "{\"version\":1,\"maxArraySize\":1001,\"fetched\":1796412381.9633207,\"messageTimeout\":10,\"accounting\":true,\"minJobAge\":30}"
        .utf8)
    XCTAssertEqual(SlurmFacts.decode(Data(file))?.maxArraySize, 1001)
    checkAgainstCodable(file, count: 3000, seed: 3, fast: SlurmFacts.decode, as: SlurmFacts.self) {
      XCTAssertEqual($0, $1, $2)
    }
  }
}

extension StoreTests {
  /// The archive's `.tsv` summaries (what `sluice runs` reads for 100,000 runs) are
  /// read by hand too: damage may drop a line, never crash the reader or give a
  /// number the file did not hold.
  func testArchiveSummaryReaderSurvivesDamage() throws {
    var r = run("a", .failed)
    r.exitCode = 3
    r.attempt = 2
    r.reason = "tab\there, newline\nhere, CRLF\r\nthere"
    r.jobID = "12_3"
    let file = Array(
      ("# sluice archive v1\n" + SummaryTSV.line(RunSummary(r)) + SummaryTSV.line(RunSummary(run("b")))).utf8)
    var back: [RunSummary] = []
    SummaryTSV.parse(Data(file)) { back.append($0) }
    XCTAssertEqual(back, [RunSummary(r), RunSummary(run("b"))])
    let huge = Array(
      SummaryTSV.line(RunSummary(r)).replacingOccurrences(
        of: "\t3\t2\t", with: "\t99999999999999999999999\t2\t"
      )
      .utf8)
    var read: [RunSummary] = []
    SummaryTSV.parse(Data(huge)) { read.append($0) }
    XCTAssertEqual(read.map(\.exitCode), [nil], "a number too big for an Int is no number, not a crash")
    for d in damaged(file, count: 4000, seed: 4) {
      SummaryTSV.parse(Data(d)) { s in
        // What it read, written again, reads back the same.
        var again: [RunSummary] = []
        SummaryTSV.parse(Data(SummaryTSV.line(s).utf8)) { again.append($0) }
        XCTAssertEqual(again, [s], String(decoding: d, as: UTF8.self).debugDescription)
      }
    }
  }
}

extension StoreTests {
  /// A job's exit record (`exits/<run>.a<attempt>` and `.start`) is written in the
  /// user's folder by the job's script: what it says is read, what it cannot mean
  /// (no number, a time that is no time) is not made into a value.
  func testExitRecordsReadWhatTheySayAndNothingElse() throws {
    let dir = makeTempDir(self)
    let base = dir + "/r.a0"
    write(base + ".start", "start 1764615314 123\n")
    write(base, "3 1764615320\n")
    let ok = ExitRecord.read(base)
    XCTAssertEqual(ok.started, 1_764_615_314)
    XCTAssertEqual(ok.exit, ExitRecord(exitCode: 3, endedEpoch: 1_764_615_320, startedEpoch: 1_764_615_314))
    for bad in ["inf", "nan", "-5", "1e300", "x", ""] {
      write(base + ".start", "start \(bad) 123\n")
      write(base, "0 \(bad)\n")
      let r = ExitRecord.read(base)
      XCTAssertNil(r.started, bad)
      XCTAssertEqual(r.exit?.exitCode, 0, bad)
      XCTAssertNil(r.exit?.endedEpoch, bad)
    }
    for bad in ["", "x 1", "99999999999999999999 1", "\u{0}"] {
      write(base, bad)
      XCTAssertNil(ExitRecord.read(base).exit, bad.debugDescription)
    }
  }
}
