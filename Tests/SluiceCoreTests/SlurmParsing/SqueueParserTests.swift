import XCTest

@testable import SluiceCore

final class SqueueParserTests: XCTestCase {
  /// One row in sluice's own field order.
  private func row(
    _ jobID: String, _ arrayJobID: String, _ task: String, _ name: String = "job",
    state: String = "PENDING", reason: String = "Priority", partition: String = "gpu",
    perJob: String = "N/A", perNode: String = "N/A", alloc: String = "", submit: String = "N/A",
    start: String = "N/A", user: String = "alice"
  ) -> String {
    usLine([
      jobID, arrayJobID, task, name, state, reason, partition, perJob, perNode, alloc, submit, start, user,
    ])
  }

  func testSluiceFormatIdsAndGPUs() throws {
    let text = [
      row(
        "123", "123", "N/A", "plain", state: "RUNNING", reason: "None",
        alloc: "cpu=1,mem=500M,node=1,billing=1,gres/gpu=2",
        submit: "2026-03-10T12:34:28", start: "2026-03-10T12:34:51"),
      row("130", "124", "7", "task", perNode: "gres/gpu:a100:2"),
      row("124", "124", "4-9%3", "range", perJob: "gres:gpu:3"),
      row("131", "131", "N/A", "name with spaces", perJob: "gres/gpu:2", perNode: "gres/gpu:8"),
      row("132", "132", "N/A", "nogpu"),
      "",
    ].joined(separator: "\n")
    let r = SqueueParser.parse(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 5)
    let a = r.items[0]
    XCTAssertEqual(a.id, JobID(base: 123))
    XCTAssertEqual(a.rawID, "123")
    XCTAssertEqual(a.name, "plain")
    XCTAssertEqual(a.state, "RUNNING")
    XCTAssertEqual(a.reason, "None")
    XCTAssertEqual(a.gpus, 2)
    XCTAssertEqual(a.submitTime, "2026-03-10T12:34:28")
    XCTAssertEqual(a.startTime, "2026-03-10T12:34:51")
    XCTAssertEqual(a.user, "alice")
    let b = r.items[1]
    XCTAssertEqual(b.id, JobID(base: 124, arrayTask: 7))
    XCTAssertEqual(b.rawID, "124_7")
    XCTAssertEqual(b.gpus, 2)
    XCTAssertNil(b.startTime)
    let c = r.items[2]
    XCTAssertEqual(c.id, JobID(base: 124, arrayRange: "4-9%3"))
    XCTAssertEqual(c.rawID, "124_[4-9%3]")
    XCTAssertEqual(c.gpus, 3)
    XCTAssertEqual(r.items[3].name, "name with spaces")
    XCTAssertEqual(r.items[3].gpus, 2, "tres-per-job wins over tres-per-node")
    XCTAssertEqual(r.items[4].gpus, 0)
  }

  /// The byte-level reader for sluice's own layout must agree with the general
  /// one on every line: real captures, every squeue sample, and odd rows.
  func testFastReaderAgreesWithTheGeneralOne() throws {
    var texts: [String] = []
    for dir in ["captured", "slurm-samples"] {
      for name in try Fixture.names(in: dir) where name.hasPrefix("squeue") {
        texts.append(try Fixture.text(name, in: dir))
      }
    }
    let odd = [
      row("123", "123", "N/A"), row("130", "124", "7"), row("124", "124", "4-9%3"), row("93+0", "93", "N/A"),
      row("7", "7", "n/a", state: "running"), row("8", "8", "(null)", state: "CANCELLED by 1000"),
      row(" 9 ", " 9", " 3 ", start: "Unknown", user: "None"), row("10", "10", "N/A", state: "ÉTAT"),
      row("11", "11", "N/A", perJob: "gres/gpu:1"), row("12", "12", "N/A", alloc: "cpu=2,gres/GPU=1"),
      row("JOBID", "ARRAY_JOB_ID", "ARRAY_TASK_ID"), row("", "", ""), row("x1", "1", "N/A"),
      row("0123456789012345678", "1", "N/A"), row("14", "", "2"), row("15", "15", "2", "a\u{1f}b"),
      row("16", "16", "N/A", submit: "\"None\"", start: "2026-03-10T12:34:51"),
      "CLUSTER: c1", "   ", "16\u{1f}16", "17 17 N/A a PENDING None gpu N/A N/A x N/A N/A bob",
    ]
    texts.append(odd.joined(separator: "\n"))
    texts.append(odd.joined(separator: "\r\n") + "\r\n")
    for t in texts {
      let fast = SqueueParser.parse(
        t, separator: SlurmQueries.fieldSeparator, fields: SqueueParser.fields, fast: true)
      let slow = SqueueParser.parse(
        t, separator: SlurmQueries.fieldSeparator, fields: SqueueParser.fields, fast: false)
      XCTAssertEqual(fast, slow, String(t.prefix(200)))
    }
    XCTAssertGreaterThan(texts.count, 10)
    // ...and it does read the plain rows itself (else the comparison above proves nothing).
    for plain in [row("123", "123", "N/A"), row("130", "124", "7", state: "running")] {
      let taken = Array(plain.utf8).withUnsafeBufferPointer { b -> Bool in
        var fields: [Range<Int>] = []
        _ = SqueueParser.split(b, 0..<b.count, Array(SlurmQueries.fieldSeparator.utf8), into: &fields)
        if fields.count > SqueueParser.fields.count { fields.removeLast() }  // the trailing separator
        return SqueueParser.fastJob(b, fields) != nil
      }
      XCTAssertTrue(taken, plain)
    }
  }

  /// The byte test for "no value" says what `SlurmText.nonEmpty` says, for the words,
  /// their other cases and near misses.
  func testNullWordsOnBytesMatchTheTextRule() {
    var samples = ["", "N/A", "n/a", "(null)", "(NULL)", "None", "NONE", "none", "Unknown", "UNKNOWN"]
    samples += [
      "\"None\"", "\"unknown\"", "Nonee", "non", "N/", "(nul)", "unknow", "0", "2026-12-02T01:00:00",
    ]
    samples += ["root", "gpu", "Priority", "nOnE", "uNkNoWn", "n/A"]
    for t in samples {
      let bytes = Array(t.utf8)
      let onBytes = bytes.withUnsafeBufferPointer { SqueueParser.isNullWord($0, 0..<$0.count) }
      XCTAssertEqual(onBytes, SlurmText.nonEmpty(t) == nil, t)
    }
  }

  /// squeue's answer read piece by piece as it arrives gives the jobs, ids and tags
  /// that reading it whole gives, wherever the pieces split it (mid-line, mid-field,
  /// between a CR and its LF, one byte at a time).
  func testQueueReadPieceByPieceAsWhole() throws {
    var text = try Fixture.names(in: "captured").filter { $0.hasPrefix("squeue") }
      .map { try Fixture.text($0, in: "captured") }.joined(separator: "\n")
    text +=
      "\n" + row("130", "124", "7", "grid.sl0123456789") + "\r\n"
      + row("131", "124", "8", "grid.sl0123456789")
    let whole = Data(text.utf8)
    let expected = SlurmBackend.QueueIndex(SqueueParser.parse(text).items)
    XCTAssertGreaterThan(expected.jobs.count, 3)
    var rng = SystemRandomNumberGenerator()
    for sizes in [[1], [7], [64], [4096], [whole.count]]
      + (0..<5).map({ _ in [Int.random(in: 1...300, using: &rng)] })
    {
      // batch 0: every piece's whole lines are parsed as it comes (the default waits
      // for 16 KiB, more than these texts).
      let reader = SlurmBackend.QueueReader(batch: sizes[0] % 3 == 0 ? 100 : 0)
      var at = 0
      while at < whole.count {
        let n = min(sizes[0], whole.count - at)
        reader.feed(whole.subdata(in: at..<(at + n)))
        at += n
      }
      if sizes[0] < whole.count / 2 {
        // It did read while the answer came, not only at the end.
        XCTAssertGreaterThan(reader.jobsRead, 0, "pieces of \(sizes[0])")
      }
      let got = reader.finish(whole: whole)
      XCTAssertEqual(got.jobs, expected.jobs, "pieces of \(sizes[0])")
      XCTAssertEqual(got.byID, expected.byID)
      XCTAssertEqual(got.byTag, expected.byTag)
    }
    // A runner that did not stream: the whole output is read.
    let unfed = SlurmBackend.QueueReader()
    XCTAssertEqual(unfed.finish(whole: whole).jobs, expected.jobs)
  }

  func testTagOfJobName() {
    let tag = SlurmBackend.tag(ofJobName:)
    XCTAssertEqual(tag("grid.sl0123456789"), "sl0123456789")
    XCTAssertEqual(tag("ünïcödé.sl0123456789"), "sl0123456789")
    XCTAssertEqual(tag("a.slé12345678a"), "slé12345678a", "twelve characters, not bytes")
    XCTAssertNil(tag("x.sl012345678"))
    XCTAssertNil(tag("x.sl01234.6789"))
    XCTAssertNil(tag("sl0123456789"))
    XCTAssertNil(tag("x.ab0123456789"))
    XCTAssertNil(tag(""))
  }

  func testTresPerNodeTimesNodes() {
    let fields = ["JobID", "NumNodes", "tres-per-node", "State"]
    let r = SqueueParser.parse(usLine(["5", "3", "gres/gpu:2", "PENDING"]), fields: fields)
    XCTAssertEqual(r.items.first?.gpus, 6)
    let r2 = SqueueParser.parse(usLine(["5", "2-4", "gres:gpu:1", "PENDING"]), fields: fields)
    XCTAssertEqual(r2.items.first?.gpus, 2)
  }

  func testSkipsBadLines() {
    let text = [
      "CLUSTER: beta",
      row("abc", "abc", "N/A"),
      row("77", "77", "x-y"),
      usLine(["1", "2"]),
      row("78", "78", "N/A"),
    ].joined(separator: "\n")
    let r = SqueueParser.parse(text)
    XCTAssertEqual(r.items.map(\.id), [JobID(base: 78)])
    XCTAssertEqual(r.skipped.map(\.lineNumber), [2, 3, 4])
    XCTAssertTrue(r.skipped[0].reason.contains("\"abc\""), r.skipped[0].reason)
  }

  /// vcell: `-O jobid:25,name:25,state:13,batchhost`, fixed width with a header.
  func testSampleFixedWidth23_11() throws {
    let text = try Fixture.text("squeue-O-fixed-width-jobid-name-state-batchhost-23.11.10.txt")
    let r = SqueueParser.parse(
      text, separator: nil, fields: ["jobid:25", "name:25", "state:13", "batchhost"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.map(\.id.base), [2714763, 2710594, 2710593])
    XCTAssertEqual(r.items[0].name, "V_ALPHA_321904351_0_0")
    XCTAssertEqual(r.items.map(\.state), ["RUNNING", "RUNNING", "RUNNING"])
  }

  func testSampleHeaderOnly23_11() throws {
    let text = try Fixture.text("squeue-O-header-only-empty-23.11.10.txt")
    let r = SqueueParser.parse(
      text, separator: nil, fields: ["jobid:25", "name:25", "state:13", "batchhost"])
    XCTAssertEqual(r.items, [])
    XCTAssertEqual(r.skipped, [])
  }

  /// slurm_exporter: `-O JobID:|,Account:|,UserName:|,Partition:|,State:|,NumNodes:|,NumCPUs:|,tres-alloc:`.
  func testSamplePipeTresAlloc24_11() throws {
    let text = try Fixture.text("squeue-O-pipe-tres-alloc-24.11.7.txt")
    let fields = ["JobID", "Account", "UserName", "Partition", "State", "NumNodes", "NumCPUs", "tres-alloc"]
    let r = SqueueParser.parse(text, separator: "|", fields: fields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 15)
    XCTAssertEqual(r.items.filter { $0.state == "PENDING" }.map(\.id.base), [15, 13, 9, 3])
    let j10 = try XCTUnwrap(r.items.first { $0.id.base == 10 })
    XCTAssertEqual(j10.user, "user1")
    XCTAssertEqual(j10.partition, "cpu")
    XCTAssertEqual(j10.gpus, 0)
    XCTAssertEqual(Set(r.items.map(\.partition)), ["cpu", "debug", "high"])
  }

  /// The 50 `-O` fields OSC's adapter asks for, in the sample's header order.
  private let oscFields = [
    "Account", "JobID", "BatchHost", "MinCpus", "NumCPUs", "MinTmpDisk", "NumNodes", "EndTime",
    "Dependency", "Feature", "ArrayJobID", "GroupName", "GroupID", "OverSubscribe", "SocketsPerNode",
    "JobArrayID", "CoresPerSocket", "Name", "ThreadsPerCore", "Comment", "ArrayTaskID", "TimeLimit",
    "TimeLeft", "MinMemory", "TimeUsed", "ReqNodes", "NodeList", "Command", "Contiguous", "QOS",
    "Partition", "Priority", "Reason", "StartTime", "StateCompact", "State", "UserName", "UserID",
    "Reservation", "SubmitTime", "WCKey", "Licenses", "ExcNodes", "CoreSpec", "Nice", "SchedNodes",
    "SCT", "WorkDir", "tres-alloc", "tres-per-node",
  ]

  /// OSC cardinal, U+001F separated, header kept. The first record has one field
  /// too many (a value containing the separator shifts the row): it must be skipped,
  /// not misread.
  func testSampleUnitSepLongFieldsTimeout() throws {
    XCTAssertEqual(oscFields.count, 50)
    let text = try Fixture.text("squeue-O-unitsep-long-fields-timeout-unknown.txt")
    let r = SqueueParser.parse(text, fields: oscFields)
    XCTAssertEqual(r.skipped.map(\.lineNumber), [2])
    XCTAssertEqual(r.skipped.first?.reason, "expected 50 fields, found 51")
    XCTAssertEqual(r.items.map(\.id.base), [6787542, 6769365, 6783828])
    let to = r.items[2]
    XCTAssertEqual(to.state, "TIMEOUT")
    XCTAssertEqual(to.reason, "TimeLimit")
    XCTAssertEqual(to.partition, "quick")
    XCTAssertEqual(to.user, "psienceguy")
    XCTAssertEqual(to.submitTime, "2026-03-10T14:25:42")
    XCTAssertEqual(to.startTime, "2026-03-10T14:25:43")
    XCTAssertEqual(to.name, "ondemand/sys/dashboard/sys/bc_desktop/vdi")
    XCTAssertEqual(to.gpus, 0)
    XCTAssertEqual(r.items[0].rawID, "6787542")
  }

  /// OSC pitzer: an array task (`29471683_9`) whose name holds U+FFFD.
  func testSampleNonUTF8JobName() throws {
    let data = try Fixture.data("squeue-O-unitsep-non-utf8-jobname-unknown.txt")
    let r = SqueueParser.parse(SlurmText.decode(data), fields: oscFields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 1)
    let j = r.items[0]
    XCTAssertEqual(j.id, JobID(base: 29471683, arrayTask: 9))
    XCTAssertEqual(j.rawID, "29471683_9")
    XCTAssertEqual(j.name, "\u{FFFD} non-utf8")
    XCTAssertEqual(j.state, "COMPLETED")
    XCTAssertEqual(j.gpus, 0, "gres/gpfs:ess:1 is not a GPU")

    // The same values in sluice's field order: the id comes from ArrayJobID + ArrayTaskID.
    let own = row(
      "123", "29471683", "9", j.name, state: "COMPLETED", reason: "None",
      partition: "condo-ccapp-backfill-serial", perNode: "gres/gpfs:ess:1",
      alloc: "cpu=40,mem=4556M,node=1,billing=40,gres/gpfs:ess:1", submit: "2024-06-26T14:01:13",
      start: "2024-06-26T14:16:35", user: "annie.oakley")
    let r2 = SqueueParser.parse(own)
    XCTAssertEqual(r2.items.first?.id, JobID(base: 29471683, arrayTask: 9))
    XCTAssertEqual(r2.items.first?.rawID, "29471683_9")
    XCTAssertEqual(r2.items.first?.partition, "condo-ccapp-backfill-serial")
  }

  /// Default-format squeue from the job array docs, prompt lines included.
  private let defaultFields = [
    "JobArrayID", "Partition", "Name", "UserName", "StateCompact", "TimeUsed", "NumNodes", "ReasonList",
  ]

  func testSampleArrayPendingRangeDocExample() throws {
    let text = try Fixture.text("squeue-array-pending-range-and-tasks-docexample-unknown.txt")
    let r = SqueueParser.parse(text, separator: nil, fields: defaultFields)
    XCTAssertEqual(r.skipped.map(\.text), ["$ squeue"])
    XCTAssertEqual(r.items.count, 5)
    XCTAssertEqual(r.items[0].id, JobID(base: 1080, arrayRange: "5-1024"))
    XCTAssertEqual(r.items[0].rawID, "1080_[5-1024]")
    XCTAssertEqual(r.items[0].state, "PENDING")
    XCTAssertEqual(r.items[0].reason, "Resources")
    XCTAssertEqual(r.items[1...].map(\.id.arrayTask), [1, 2, 3, 4])
    XCTAssertEqual(r.items[1].state, "RUNNING")
    XCTAssertEqual(r.items[1].reason, "", "a node list is not a reason")
  }

  func testSampleExpandedArrayTasksDocExample() throws {
    let text = try Fixture.text("squeue-r-array-tasks-expanded-docexample-unknown.txt")
    let r = SqueueParser.parse(text, separator: nil, fields: defaultFields)
    XCTAssertEqual(r.skipped.map(\.text), ["$ squeue -r"])
    XCTAssertEqual(r.items.map(\.rawID), ["1082_3", "1082_4", "1080", "1081", "1082_1", "1082_2"])
    XCTAssertEqual(r.items.map(\.reason), ["Resources", "Priority", "", "", "", ""])
    XCTAssertEqual(r.items[0].id, JobID(base: 1082, arrayTask: 3))
  }

  func testSampleHetJobDocExample() throws {
    let text = try Fixture.text("squeue-hetjob-components-plus-notation-docexample-unknown.txt")
    let r = SqueueParser.parse(text, separator: nil, fields: defaultFields)
    XCTAssertEqual(r.items.map(\.rawID), ["93+0", "93+1", "93+2", "93+0", "93+2"])
    XCTAssertEqual(r.items[1].id, JobID(base: 93, hetOffset: 1))
    XCTAssertTrue(r.items.allSatisfy { $0.state == "RUNNING" && $0.user == "adam" })
    XCTAssertEqual(r.skipped.count, 5, "the five shell prompt lines")
    XCTAssertTrue(r.skipped.allSatisfy { $0.text.hasPrefix("$ ") })
  }

  /// `--format="%i|%E;%R;%C"`: two separators; rebuilt into U+001F fields.
  func testSampleDependencyReasonPipe() throws {
    let text = try Fixture.text("squeue-o-dependency-reason-pipe-unknown.txt")
    let rebuilt = SlurmText.lines(text).map { line -> String in
      let (id, rest) = (
        line.split(separator: "|", maxSplits: 1).map(String.init)[0],
        line.split(separator: "|", maxSplits: 1).map(String.init)[1]
      )
      return usLine([id] + rest.split(separator: ";", omittingEmptySubsequences: false).map(String.init))
    }.joined(separator: "\n")
    let r = SqueueParser.parse(rebuilt, fields: ["JobArrayID", "Dependency", "ReasonList", "NumCPUs"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 10)
    XCTAssertEqual(r.items[0].id, JobID(base: 7219441))
    XCTAssertEqual(r.items[0].reason, "Dependency")
    XCTAssertEqual(r.items[5].id, JobID(base: 8322514, arrayTask: 33))
    XCTAssertEqual(r.items[5].reason, "", "running: the column holds its node")
    XCTAssertEqual(
      r.items[6].reason,
      "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions")
  }

  /// `-o '%P|%T|%C|%r|%u' --states=all` has no job id: synthetic ids added.
  func testSampleAllStatesReasons25_11() throws {
    let text = try Fixture.text("squeue-o-pipe-all-states-reasons-25.11.2.txt")
    let lines = SlurmText.lines(text)
    let rebuilt = lines.enumerated().map { i, line in
      usLine(["\(i + 1)"] + SlurmText.split(line, separator: "|"))
    }.joined(separator: "\n")
    let r = SqueueParser.parse(
      rebuilt, fields: ["JobID", "Partition", "State", "NumCPUs", "Reason", "UserName"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, lines.count)
    var states: [String: Int] = [:]
    for j in r.items { states[j.state, default: 0] += 1 }
    XCTAssertEqual(states["NODE_FAIL"], 1)
    XCTAssertEqual(states["TIMEOUT"], 1)
    XCTAssertEqual(r.items.first { $0.state == "NODE_FAIL" }?.reason, "NodeDown")
    XCTAssertEqual(r.items.first { $0.state == "TIMEOUT" }?.reason, "TimeLimit")
    XCTAssertTrue(r.items.contains { $0.state == "SUSPENDED" })
    XCTAssertTrue(
      r.items.contains {
        $0.reason
          == "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
      })
    XCTAssertEqual(Set(r.items.compactMap(\.user)), ["alice", "bob", "carol", "dave", "eve", "frank"])
  }

  /// Custom `-o` JSON lines (pending reasons with parentheses): rebuilt.
  func testSampleJSONLinesPendingReasons() throws {
    let text = try Fixture.text("squeue-custom-o-jsonlines-pending-reasons-unknown.txt")
    var rows: [String] = []
    for line in SlurmText.lines(text) {
      let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let id = try XCTUnwrap(o["id"] as? Int)
      rows.append(
        usLine([
          String(id), o["state"] as? String ?? "", o["p"] as? String ?? "", o["array_id"] as? String ?? "",
          o["r"] as? String ?? "",
        ]))
    }
    let r = SqueueParser.parse(
      rows.joined(separator: "\n"), fields: ["JobID", "State", "Partition", "ArrayTaskID", "ReasonList"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.map(\.id.base), [26515966, 50580016, 51447051, 51447052, 51447053, 18804])
    XCTAssertEqual(r.items[2].reason, "Dependency")
    XCTAssertEqual(r.items[3].reason, "(ReqNodeNotAvail, UnavailableNodes:cs[100,101,102])")
    XCTAssertEqual(r.items[5].reason, "Priority")
    XCTAssertEqual(r.items[0].reason, "", "running job: node list, no reason")
    XCTAssertTrue(r.items.allSatisfy { $0.id.arrayTask == nil })
  }

  /// `squeue --json` 21.08.5 (second job in the newer number-object style): rebuilt.
  func testSampleJSON21_08Rebuilt() throws {
    let json = try Fixture.json("squeue-json-21.08.5.txt")
    let jobs = try XCTUnwrap(json["jobs"] as? [[String: Any]])
    func number(_ v: Any?) -> Int? {
      if let n = v as? Int { return n }
      if let o = v as? [String: Any], o["set"] as? Bool == true { return o["number"] as? Int }
      return nil
    }
    let text = jobs.map { j -> String in
      let id = number(j["job_id"]) ?? 0
      let arrayJob = number(j["array_job_id"]).flatMap { $0 == 0 ? nil : $0 } ?? id
      let task = number(j["array_task_id"]).map(String.init) ?? "N/A"
      let tpj = (j["tres_per_job"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "N/A"
      let tpn = (j["tres_per_node"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "N/A"
      return row(
        String(id), String(arrayJob), task, j["name"] as? String ?? "",
        state: j["job_state"] as? String ?? "",
        reason: j["state_reason"] as? String ?? "", partition: j["partition"] as? String ?? "",
        perJob: tpj, perNode: tpn, alloc: j["tres_alloc_str"] as? String ?? "",
        submit: String(number(j["submit_time"]) ?? 0), user: j["user_name"] as? String ?? "")
    }.joined(separator: "\n")
    let r = SqueueParser.parse(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 2)
    XCTAssertEqual(r.items[0].id, JobID(base: 26515966))
    XCTAssertEqual(r.items[0].state, "RUNNING")
    XCTAssertEqual(r.items[0].partition, "hw-l")
    XCTAssertEqual(r.items[0].user, "bkd")
    XCTAssertEqual(r.items[0].gpus, 0)
    XCTAssertEqual(r.items[1].id, JobID(base: 58948420))
    XCTAssertEqual(r.items[1].name, "some job name")
    XCTAssertEqual(r.items[1].reason, "Dependency")
  }

  /// `scontrol show job --json` 23.11.10: its values as a sluice squeue row.
  func testSampleScontrolJobJSONAsSqueueRow() throws {
    let json = try Fixture.json("scontrol-show-job-json-running-23.11.10.txt")
    let j = try XCTUnwrap((json["jobs"] as? [[String: Any]])?.first)
    let id = try XCTUnwrap(j["job_id"] as? Int)
    let state = try XCTUnwrap((j["job_state"] as? [String])?.first)
    let line = row(
      String(id), String(id), "N/A", j["name"] as? String ?? "", state: state,
      reason: j["state_reason"] as? String ?? "", partition: j["partition"] as? String ?? "",
      alloc: j["tres_alloc_str"] as? String ?? "", user: j["user_name"] as? String ?? "")
    let r = SqueueParser.parse(line)
    let q = try XCTUnwrap(r.items.first)
    XCTAssertEqual(q.id, JobID(base: 2710594))
    XCTAssertEqual(q.name, "V_ALPHA_321860413_0_0")
    XCTAssertEqual(q.state, "RUNNING")
    XCTAssertEqual(q.partition, "vcell")
    XCTAssertEqual(q.user, "vcell")
    XCTAssertEqual(q.gpus, 0)
    XCTAssertEqual(Tres.pairs(j["tres_alloc_str"] as? String ?? "").first { $0.key == "mem" }?.value, "8G")
  }
}
