import XCTest

@testable import SluiceCore

final class SacctParserTests: XCTestCase {
  func testSluiceFormat() throws {
    let d = "\u{1f}"
    let text =
      [
        [
          "123", "123", "train", "COMPLETED", "0:0", "01:02:03", "None", "2026-01-01T10:00:00",
          "2026-01-01T11:02:03",
        ],
        [
          "124_7", "131", "arr", "CANCELLED by 0", "0:15", "00:00:09", "None", "2026-01-01T10:00:00",
          "2026-01-01T10:00:09",
        ],
        ["124_[8-9%2]", "124", "arr", "PENDING", "0:0", "00:00:00", "Priority", "Unknown", "Unknown"],
        [
          "125", "125", "oom", "OUT_OF_MEMORY", "0:125", "00:10:00", "None", "2026-01-01T10:00:00",
          "2026-01-01T10:10:00",
        ],
        [
          "126", "126", "fail", "FAILED", "1:0", "00:00:01", "None", "2026-01-01T10:00:00",
          "2026-01-01T10:00:01",
        ],
        [
          "127+0", "127", "het", "PREEMPTED", "0:0", "00:05:00", "None", "2026-01-01T10:00:00",
          "2026-01-01T10:05:00",
        ],
      ].map { $0.joined(separator: d) }.joined(separator: "\n") + "\n"
    let r = SacctParser.parse(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertFalse(r.sawHeader)
    XCTAssertEqual(r.steps, [])
    XCTAssertEqual(r.records.count, 6)
    let a = r.records[0]
    XCTAssertEqual(a.id, JobID(base: 123))
    XCTAssertEqual(a.rawID, "123")
    XCTAssertEqual(a.name, "train")
    XCTAssertEqual(a.state, "COMPLETED")
    XCTAssertEqual(a.exitCode, 0)
    XCTAssertEqual(a.signal, 0)
    XCTAssertEqual(a.elapsed, "01:02:03")
    XCTAssertNil(a.reason)
    XCTAssertEqual(a.start, "2026-01-01T10:00:00")
    XCTAssertEqual(a.end, "2026-01-01T11:02:03")
    let b = r.records[1]
    XCTAssertEqual(b.id, JobID(base: 124, arrayTask: 7))
    XCTAssertEqual(b.stateText, "CANCELLED by 0")
    XCTAssertEqual(b.state, "CANCELLED")
    XCTAssertEqual(b.signal, 15)
    let c = r.records[2]
    XCTAssertEqual(c.id, JobID(base: 124, arrayRange: "8-9%2"))
    XCTAssertEqual(c.reason, "Priority")
    XCTAssertNil(c.start)
    XCTAssertEqual(r.records[3].state, "OUT_OF_MEMORY")
    XCTAssertEqual(r.records[4].exitCode, 1)
    XCTAssertEqual(r.records[5].id, JobID(base: 127, hetOffset: 0))
    XCTAssertEqual(r.records[5].state, "PREEMPTED")
  }

  func testStepsHeaderTrailingDelimiterAndOtherDelimiters() {
    let text = """
      JobID|JobIDRaw|JobName|State|ExitCode|Elapsed|Reason|Start|End|
      200|200|x|TIMEOUT|0:0|01:00:00|None|2026-01-01T00:00:00|2026-01-01T01:00:00|
      200.batch|200.batch|batch|CANCELLED|0:15|01:00:00|None|2026-01-01T00:00:00|2026-01-01T01:00:00|
      200.extern|200.extern|extern|COMPLETED|0:0|01:00:00|None|2026-01-01T00:00:00|2026-01-01T01:00:00|
      200.0|200.0|python|NODE_FAIL|1:0|01:00:00|None|2026-01-01T00:00:00|2026-01-01T01:00:00|
      201|201|y|REQUEUED|0:0|00:00:00|BeginTime|None|None|
      """
    let r = SacctParser.parse(text, delimiter: "|", fields: ["JobID"])
    XCTAssertTrue(r.sawHeader)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.records.map(\.state), ["TIMEOUT", "REQUEUED"])
    XCTAssertEqual(r.steps.map(\.step), ["batch", "extern", "0"])
    XCTAssertEqual(r.steps.map(\.record.id), Array(repeating: JobID(base: 200), count: 3))
    XCTAssertEqual(r.steps[2].record.state, "NODE_FAIL")
    XCTAssertEqual(r.steps[0].record.signal, 15)
    XCTAssertEqual(r.records[1].reason, "BeginTime")
    XCTAssertNil(r.records[1].start)
  }

  func testTruncatedStatesAndBadLines() {
    let text = [
      "300|CANCELLED+|0:0",
      "301|OUT_OF_ME+|0:125",
      "x|COMPLETED|0:0",
      "302|COMPLETED",
      "303|COMPLETED|weird",
    ].joined(separator: "\n")
    let r = SacctParser.parse(text, delimiter: "|", fields: ["JobID", "State", "ExitCode"])
    XCTAssertEqual(r.records.map(\.state), ["CANCELLED", "OUT_OF_ME", "COMPLETED"])
    XCTAssertEqual(r.records.map(\.stateText), ["CANCELLED+", "OUT_OF_ME+", "COMPLETED"])
    XCTAssertNil(r.records[2].exitCode)
    XCTAssertEqual(r.skipped.map(\.lineNumber), [3, 4])
  }

  func testJobNamedLikeAHeaderIsData() {
    let r = SacctParser.parse("400|JobID|COMPLETED", delimiter: "|", fields: ["JobID", "JobName", "State"])
    XCTAssertFalse(r.sawHeader)
    XCTAssertEqual(r.records.first?.name, "JobID")
  }

  func testExitCodeAndStateWord() throws {
    let e = try XCTUnwrap(SacctParser.parseExitCode("0:15"))
    XCTAssertEqual(e.code, 0)
    XCTAssertEqual(e.signal, 15)
    XCTAssertEqual(SacctParser.parseExitCode("1:0")?.code, 1)
    for bad in ["", "1", "1:", ":1", "a:b", "1:2:3", "-1:0"] {
      XCTAssertNil(SacctParser.parseExitCode(bad), bad)
    }
    XCTAssertEqual(SacctParser.stateWord("CANCELLED by 10304007"), "CANCELLED")
    XCTAssertEqual(SacctParser.stateWord("cancelled+"), "CANCELLED")
    XCTAssertEqual(SacctParser.stateWord(""), "")
  }

  // MARK: samples

  private let vcellFields = ["jobid%25", "jobname%25", "state%13"]

  func testSampleHeaderOnly() throws {
    let r = SacctParser.parse(
      try Fixture.text("sacct-P-header-only-no-match-23.11.10.txt"), delimiter: "|", fields: vcellFields)
    XCTAssertTrue(r.sawHeader)
    XCTAssertEqual(r.records, [])
    XCTAssertEqual(r.steps, [])
    XCTAssertEqual(r.skipped, [])
  }

  func testSampleCompletedWithSteps() throws {
    let r = SacctParser.parse(
      try Fixture.text("sacct-P-jobid-jobname-state-completed-23.11.10.txt"), delimiter: "|",
      fields: vcellFields)
    XCTAssertEqual(r.records.count, 1)
    XCTAssertEqual(r.records[0].id, JobID(base: 2711367))
    XCTAssertEqual(r.records[0].name, "V_ALPHA_321868189_0_0")
    XCTAssertEqual(r.records[0].state, "COMPLETED")
    XCTAssertNil(r.records[0].exitCode, "no ExitCode column")
    XCTAssertEqual(r.steps.map(\.step), ["batch", "extern"])
  }

  func testSampleMultistepRunning() throws {
    let r = SacctParser.parse(
      try Fixture.text("sacct-P-jobid-jobname-state-multistep-23.11.10.txt"), delimiter: "|",
      fields: vcellFields)
    XCTAssertEqual(r.records.map(\.id), [JobID(base: 2710593)])
    XCTAssertEqual(r.records[0].state, "RUNNING")
    XCTAssertEqual(r.steps.count, 22)
    XCTAssertEqual(r.steps.map(\.step), ["batch", "extern"] + (0...19).map(String.init))
    XCTAssertTrue(r.steps[2...].allSatisfy { $0.record.name == "singularity" })
  }

  func testSampleTerminalStates() throws {
    let r = SacctParser.parse(
      try Fixture.text("sacct-P-terminal-states-timeout-oom-nodefail-23.11.10.txt"), delimiter: "|",
      fields: vcellFields)
    XCTAssertEqual(r.records.map(\.id.base), [2699101, 2699102, 2699103, 2699104])
    XCTAssertEqual(r.records.map(\.state), ["TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "FAILED"])
  }

  /// Default fixed-width sacct output (docs), het components, prompts and rulers.
  func testSampleHetJobDocExample() throws {
    let r = SacctParser.parse(
      try Fixture.text("sacct-hetjob-components-plus-notation-docexample-unknown.txt"), delimiter: "|")
    XCTAssertTrue(r.sawHeader)
    XCTAssertEqual(
      r.records.map(\.rawID), ["67767+0", "67767+1", "67767+1", "67767+0", "67767+0", "67767+1"])
    XCTAssertEqual(r.records[1].id, JobID(base: 67767, hetOffset: 1))
    XCTAssertTrue(r.records.allSatisfy { $0.state == "COMPLETED" && $0.exitCode == 0 && $0.signal == 0 })
    XCTAssertEqual(r.records[0].name, "foo")
    XCTAssertEqual(r.skipped.count, 4, "the four shell prompt lines")
    XCTAssertTrue(r.skipped.allSatisfy { $0.text.hasPrefix("$") })
  }

  /// Habrok dump: `--parsable` (trailing delimiter), `☃` delimiter, 37 columns, steps.
  func testSampleSnowmanDelimiter() throws {
    let fields =
      ("JobID,JobName,User,Partition,NodeList,NNodes,NCPUS,NTasks,State,Submit,Start,End,Timelimit,"
      + "Elapsed,TotalCPU,CPUTime,UserCPU,SystemCPU,ReqMem,MaxRSS,MaxVMSize,ReqTRES,AllocTRES,"
      + "TRESUsageInMax,TRESUsageInTot,TRESUsageOutTot,MaxDiskRead,MaxDiskWrite,MaxRSSNode,MaxRSSTask,"
      + "MaxVMSizeNode,MaxVMSizeTask,MaxDiskReadNode,MaxDiskReadTask,MaxDiskWriteNode,MaxDiskWriteTask,"
      + "Comment").split(separator: ",").map(String.init)
    XCTAssertEqual(fields.count, 37)
    let r = SacctParser.parse(
      try Fixture.text("sacct-parsable-snowman-delim-steps-states-unknown.txt"), delimiter: "☃",
      fields: fields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.records.count, 51)
    XCTAssertEqual(r.steps.count, 49)
    var states: [String: Int] = [:]
    for rec in r.records { states[rec.state, default: 0] += 1 }
    XCTAssertEqual(states, ["COMPLETED": 35, "CANCELLED": 6, "FAILED": 5, "TIMEOUT": 4, "NODE_FAIL": 1])
    let first = r.records[0]
    XCTAssertEqual(first.id, JobID(base: 4034541))
    XCTAssertEqual(first.stateText, "CANCELLED by 10304007")
    XCTAssertEqual(first.elapsed, "03:34:13")
    XCTAssertEqual(first.start, "2023-09-01T05:51:10")
    XCTAssertEqual(first.end, "2023-09-01T09:25:23")
    XCTAssertEqual(r.records.filter { $0.id.arrayTask != nil }.count, 15)
    XCTAssertEqual(r.records.first { $0.rawID == "5908801_3" }?.id, JobID(base: 5908801, arrayTask: 3))
    let never = r.records.filter { $0.start == nil }.map(\.id.base)
    XCTAssertEqual(never, [4047445, 5931946, 7336818], "Start=None")
    XCTAssertEqual(r.records.first { $0.id.base == 7336818 }?.state, "NODE_FAIL")
    let arrayStep = try XCTUnwrap(r.steps.first { $0.record.rawID == "7216821_144.batch" })
    XCTAssertEqual(arrayStep.record.id, JobID(base: 7216821, arrayTask: 144))
    XCTAssertEqual(arrayStep.record.state, "CANCELLED")
  }

  private func hms(_ seconds: Int) -> String {
    String(format: "%02d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
  }

  private func number(_ v: Any?) -> Int? {
    if let n = v as? Int { return n }
    if let o = v as? [String: Any] { return o["set"] as? Bool == true ? o["number"] as? Int : nil }
    return nil
  }

  private func stateName(_ v: Any?) -> String {
    (v as? String) ?? (v as? [String])?.first ?? ""
  }

  /// `sacct --json` 23.11.10, running job with 22 steps: rebuilt into sluice's format.
  func testSampleJSONMultistepRebuilt() throws {
    let json = try Fixture.json("sacct-json-multistep-running-23.11.10.txt")
    let job = try XCTUnwrap((json["jobs"] as? [[String: Any]])?.first)
    func line(_ id: String, _ raw: String, _ name: String, _ o: [String: Any]) -> String {
      let state = o["state"] as? [String: Any]
      let exit = o["exit_code"] as? [String: Any]
      let signal = number((exit?["signal"] as? [String: Any])?["id"]) ?? 0
      let time = o["time"] as? [String: Any]
      return [
        id, raw, name, stateName(state?["current"] ?? o["state"]),
        "\(number(exit?["return_code"]) ?? 0):\(signal)", hms(number(time?["elapsed"]) ?? 0),
        state?["reason"] as? String ?? "None", "2026-08-12T00:00:00", "Unknown",
      ].joined(separator: "\u{1f}")
    }
    let id = String(try XCTUnwrap(job["job_id"] as? Int))
    var lines = [line(id, id, job["name"] as? String ?? "", job)]
    for s in (job["steps"] as? [[String: Any]]) ?? [] {
      let step = s["step"] as? [String: Any]
      let sid = step?["id"] as? String ?? ""
      lines.append(line(sid, sid, step?["name"] as? String ?? "", s))
    }
    let r = SacctParser.parse(lines.joined(separator: "\n"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.records.count, 1)
    let rec = r.records[0]
    XCTAssertEqual(rec.id, JobID(base: 2710593))
    XCTAssertEqual(rec.state, "RUNNING")
    XCTAssertEqual(rec.exitCode, 0)
    XCTAssertEqual(rec.elapsed, "12:59:30")
    XCTAssertNil(rec.reason)
    XCTAssertNil(rec.end)
    XCTAssertEqual(r.steps.count, 22)
    XCTAssertEqual(r.steps[0].step, "batch")
    XCTAssertEqual(r.steps[2].record.name, "singularity")
    XCTAssertEqual(r.steps[2].record.elapsed, hms(46763))
  }

  func testSampleJSONNoMatch() throws {
    let json = try Fixture.json("sacct-json-no-matching-jobs-23.11.10.txt")
    let jobs = try XCTUnwrap(json["jobs"] as? [Any])
    XCTAssertTrue(jobs.isEmpty)
    let r = SacctParser.parse("")
    XCTAssertEqual(r, SacctResult())
  }

  /// `sacct -X --json` 21.08.8 (cedar): NODE_FAIL and REQUEUED array tasks, rebuilt.
  func testSampleJSONNodeFailRequeuedRebuilt() throws {
    let json = try Fixture.json("sacct-json-nodefail-requeued-21.08.8.txt")
    let jobs = try XCTUnwrap(json["jobs"] as? [[String: Any]])
    let lines = jobs.map { j -> String in
      let raw = String(number(j["job_id"]) ?? 0)
      let array = j["array"] as? [String: Any]
      let arrayJob = number(array?["job_id"]) ?? 0
      let id = arrayJob == 0 ? raw : "\(arrayJob)_\(number(array?["task_id"]) ?? 0)"
      let state = j["state"] as? [String: Any]
      let exit = j["exit_code"] as? [String: Any]
      let time = j["time"] as? [String: Any]
      return usLine([
        id, raw, j["name"] as? String ?? "", stateName(state?["current"]),
        "\(number(exit?["return_code"]) ?? 0):0", hms(number(time?["elapsed"]) ?? 0),
        state?["reason"] as? String ?? "", "2023-03-30T00:00:00", "Unknown",
      ])
    }
    let r = SacctParser.parse(lines.joined(separator: "\n"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.records.count, 2)
    XCTAssertEqual(r.records[0].id, JobID(base: 1, arrayTask: 7))
    XCTAssertEqual(r.records[0].state, "NODE_FAIL")
    XCTAssertEqual(r.records[0].reason, "Prolog")
    XCTAssertEqual(r.records[0].elapsed, hms(20615))
    XCTAssertEqual(r.records[1].id, JobID(base: 2, arrayTask: 0))
    XCTAssertEqual(r.records[1].state, "REQUEUED")
    XCTAssertEqual(r.records[1].name, "test-job-2")
  }
}
