import XCTest

@testable import SluiceCore

/// Outputs captured on the bundled Slurm 22.05.8 test cluster (Tests/Fixtures/captured,
/// see its SOURCES.md): nodes n1..n4, 4 CPUs / 4000 MB each, n1 and n2 with 4 GPUs,
/// partitions cpu (default) and gpu, QOS normal and limited (MaxJobsPU 2, MaxSubmitPU 4).
final class CapturedOutputTests: XCTestCase {
  private func text(_ name: String) throws -> String {
    try Fixture.text(name, in: "captured")
  }

  /// Exit codes recorded in INDEX.tsv, by stdout file name.
  private func exitCodes() throws -> [String: Int32] {
    var out: [String: Int32] = [:]
    for line in SlurmText.lines(try text("INDEX.tsv")).dropFirst() {
      let f = SlurmText.split(line, separator: "\t")
      if f.count >= 2, let code = Int32(f[1]) { out[f[0]] = code }
    }
    return out
  }

  private func stderrKind(_ stem: String) throws -> SlurmErrorKind {
    let code = try XCTUnwrap(try exitCodes()["\(stem)-22.05.8.txt"], stem)
    XCTAssertNotEqual(code, 0, stem)
    return SlurmErrors.classify(stderr: try text("\(stem)-stderr-22.05.8.txt"), exitCode: code)
  }

  // MARK: sinfo

  func testSinfoIdleAndWidthForms() throws {
    let idle = SinfoParser.parseNodes(try text("sinfo-nodes-idle-22.05.8.txt"))
    XCTAssertEqual(idle.skipped, [])
    XCTAssertEqual(idle.items.map(\.name), ["n1", "n1", "n2", "n2", "n3", "n4"])
    XCTAssertEqual(idle.items.map(\.partition), ["cpu", "gpu", "cpu", "gpu", "cpu", "cpu"])
    XCTAssertEqual(idle.items.map(\.isDefaultPartition), [true, false, true, false, true, true])
    XCTAssertEqual(idle.items.map(\.gpusTotal), [4, 4, 4, 4, 0, 0])
    XCTAssertTrue(idle.items.allSatisfy { $0.state.base == .idle && $0.state.usable })
    XCTAssertTrue(idle.items.allSatisfy { $0.cpusIdle == 4 && $0.memoryMB == 4000 && $0.gpusUsed == 0 })

    let width0 = SinfoParser.parseNodes(try text("sinfo-nodes-idle-width0-22.05.8.txt"))
    XCTAssertEqual(
      Set(width0.items.map { "\($0.name)/\($0.partition)" }),
      Set(idle.items.map { "\($0.name)/\($0.partition)" }))
    let nocolon = SinfoParser.parseNodes(try text("sinfo-nodes-idle-nocolon-22.05.8.txt"))
    XCTAssertEqual(nocolon.skipped, [])
    XCTAssertEqual(nocolon.items, idle.items, "the padded form reads the same")
  }

  func testSinfoBusyAndDrained() throws {
    let busy = SinfoParser.parseNodes(try text("sinfo-nodes-busy-22.05.8.txt"))
    let n1 = try XCTUnwrap(busy.items.first { $0.name == "n1" })
    XCTAssertEqual(n1.state.base, .allocated)
    XCTAssertEqual([n1.gpusTotal, n1.gpusUsed], [4, 2])
    XCTAssertEqual(n1.allocatedMemoryMB, 2000)
    XCTAssertEqual(busy.items.first { $0.name == "n2" }?.gpusUsed, 1)
    let n3 = try XCTUnwrap(busy.items.first { $0.name == "n3" })
    XCTAssertEqual([n3.cpusAllocated, n3.cpusIdle, n3.cpusTotal], [1, 3, 4])
    XCTAssertEqual(n3.state.base, .mixed)

    let drain = SinfoParser.parseNodes(try text("sinfo-nodes-drain-22.05.8.txt"))
    let n4 = try XCTUnwrap(drain.items.first { $0.name == "n4" })
    XCTAssertEqual(n4.state.base, .drained)
    XCTAssertFalse(n4.state.usable)
    XCTAssertEqual([n4.cpusIdle, n4.cpusOther], [0, 4])
    XCTAssertEqual(drain.items.filter(\.state.usable).count, 5)
  }

  func testSinfoPartitionSummaries() throws {
    let rows = SlurmText.lines(try text("sinfo-partitions-drain-22.05.8.txt")).map {
      SlurmText.split($0, separator: "\u{1f}")
    }
    XCTAssertEqual(rows.map { $0[0] }, ["cpu", "cpu", "gpu"])
    XCTAssertEqual(
      SinfoParser.parseCPUsState(rows[0][3]), CPUsState(allocated: 1, idle: 3, other: 4, total: 8))
    XCTAssertEqual(rows.map { Gres.gpuCount($0[4]) }, [0, 4, 4])
    XCTAssertEqual(SlurmText.lines(try text("sinfo-partition-names-22.05.8.txt")), ["cpu*", "gpu"])
  }

  // MARK: squeue

  func testSqueueExpanded() throws {
    let r = SqueueParser.parse(try text("squeue-jobs-r-22.05.8.txt"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 15)
    XCTAssertEqual(r.items.prefix(4).map(\.rawID), ["66_2", "66_3", "66_4", "66_5"])
    XCTAssertTrue(r.items.prefix(4).allSatisfy { $0.state == "PENDING" && $0.reason == "JobArrayTaskLimit" })
    XCTAssertTrue(r.items.prefix(4).allSatisfy { $0.jobIDRaw == 66 && $0.startTime == nil })
    let t0 = try XCTUnwrap(r.items.first { $0.rawID == "66_0" })
    XCTAssertEqual(t0.id, JobID(base: 66, arrayTask: 0))
    XCTAssertEqual(t0.jobIDRaw, 68)
    XCTAssertEqual(t0.state, "RUNNING")
    XCTAssertEqual(t0.startTime, "2026-12-01T19:39:17")
    let gres = try XCTUnwrap(r.items.first { $0.id.base == 64 })
    XCTAssertEqual(gres.name, "cap-gres")
    XCTAssertEqual(gres.partition, "gpu")
    XCTAssertEqual(gres.gpus, 2, "--gres=gpu:2")
    XCTAssertEqual(r.items.first { $0.id.base == 65 }?.gpus, 1, "--gpus=1")
    XCTAssertEqual(r.items.first { $0.id.base == 73 }?.reason, "QOSMaxJobsPerUserLimit")
    XCTAssertEqual(
      r.items.first { $0.id.base == 75 }?.name,
      "cap-pending-with-a-long-name-that-is-longer-than-the-default-20-columns")
    XCTAssertTrue(r.items.allSatisfy { $0.user == "sluicetest" })
    XCTAssertEqual(r.items.reduce(0) { $0 + $1.gpus }, 3)
  }

  func testSqueueCollapsedRange() throws {
    let r = SqueueParser.parse(try text("squeue-jobs-22.05.8.txt"))
    XCTAssertEqual(r.items.count, 12)
    XCTAssertEqual(r.items[0].id, JobID(base: 66, arrayRange: "2-5%2"))
    XCTAssertEqual(r.items[0].rawID, "66_[2-5%2]")
    // The %i form printed by the classic -o agrees with what sluice composes.
    let classic = SqueueParser.parse(
      try text("squeue-jobs-default-o-22.05.8.txt"), fields: ["JobArrayID", "State", "Reason"])
    XCTAssertEqual(classic.items.map(\.id), r.items.map(\.id))
    XCTAssertEqual(classic.items.map(\.rawID), r.items.map(\.rawID))
    XCTAssertEqual(classic.items.map(\.reason), r.items.map(\.reason))
  }

  /// `JobArrayID` (`%i`) against sluice's JobID + ArrayJobID + ArrayTaskID composition.
  func testSqueueJobArrayIDMatchesComposition() throws {
    for name in ["squeue-jobarrayid-22.05.8.txt", "squeue-jobarrayid-r-22.05.8.txt"] {
      let t = try text(name)
      let printed = SqueueParser.parse(
        t, fields: ["JobArrayID", "JobID", "ArrayJobID", "ArrayTaskID", "State"])
      let composed = SqueueParser.parse(
        t, fields: ["Ignored", "JobID", "ArrayJobID", "ArrayTaskID", "State"])
      XCTAssertEqual(printed.skipped, [], name)
      XCTAssertEqual(printed.items.count, name.contains("-r-") ? 15 : 12, name)
      XCTAssertEqual(composed.items.map(\.id), printed.items.map(\.id), name)
      XCTAssertEqual(composed.items.map(\.rawID), printed.items.map(\.rawID), name)
    }
  }

  func testSqueueAfterEnd() throws {
    let r = SqueueParser.parse(try text("squeue-after-end-states-all-22.05.8.txt"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 12)
    XCTAssertEqual(r.items.first { $0.id.base == 62 }?.state, "TIMEOUT")
    XCTAssertEqual(r.items.first { $0.id.base == 62 }?.reason, "TimeLimit")
    XCTAssertEqual(r.items.first { $0.jobIDRaw == 93 }?.id, JobID(base: 66, arrayTask: 4))
    XCTAssertEqual(r.items.first { $0.jobIDRaw == 66 }?.id, JobID(base: 66, arrayTask: 5))
    XCTAssertEqual(
      r.items.first { $0.id.base == 75 }?.reason,
      "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions")
    for empty in [
      "squeue-after-end-22.05.8.txt", "squeue-just-ended-job-22.05.8.txt", "squeue-finished-job-22.05.8.txt",
      "squeue-controller-down-22.05.8.txt",
    ] {
      XCTAssertEqual(SqueueParser.parse(try text(empty)), SlurmParseResult(), empty)
    }
  }

  // MARK: sacct

  func testSacctBusy() throws {
    let r = SacctParser.parse(try text("sacct-busy-X-22.05.8.txt"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.steps, [])
    XCTAssertEqual(r.records.count, 13)
    let fail = try XCTUnwrap(r.records.first { $0.id.base == 67 })
    XCTAssertEqual([fail.exitCode, fail.signal], [3, 0])
    XCTAssertEqual(fail.state, "FAILED")
    let cancel = try XCTUnwrap(r.records.first { $0.id.base == 70 })
    XCTAssertEqual(cancel.stateText, "CANCELLED by 1001")
    XCTAssertEqual(cancel.state, "CANCELLED")
    let range = try XCTUnwrap(r.records.first { $0.id.arrayRange != nil })
    XCTAssertEqual(range.id, JobID(base: 66, arrayRange: "2-5%2"))
    XCTAssertEqual(range.jobIDRaw, 66)
    XCTAssertEqual(range.reason, "JobArrayTaskLimit")
    XCTAssertNil(range.start)
    XCTAssertNil(range.end)
    XCTAssertEqual(r.records.first { $0.id.base == 71 }?.state, "RUNNING")
    XCTAssertNil(r.records.first { $0.id.base == 75 }, "sacct lags: the last submission is missing")
    let settled = SacctParser.parse(try text("sacct-busy-settled-X-22.05.8.txt"))
    XCTAssertEqual(settled.records.count, 14)
    XCTAssertEqual(settled.records.first { $0.id.base == 75 }?.state, "PENDING")

    let steps = SacctParser.parse(try text("sacct-busy-steps-22.05.8.txt"))
    XCTAssertEqual(steps.records.count, 13)
    XCTAssertEqual(steps.steps.count, 10)
    XCTAssertTrue(steps.steps.allSatisfy { $0.step == "batch" && $0.record.reason == nil })
    XCTAssertEqual(steps.steps.first { $0.record.id.arrayTask == 0 }?.record.jobIDRaw, 68)
    XCTAssertEqual(SacctParser.parse(try text("sacct-busy-settled-steps-22.05.8.txt")).steps.count, 10)
  }

  func testSacctFinal() throws {
    let r = SacctParser.parse(try text("sacct-final-X-22.05.8.txt"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.records.count, 18)
    func rec(_ base: Int, _ task: Int? = nil) -> AccountingRecord? {
      r.records.first { $0.id == JobID(base: base, arrayTask: task) }
    }
    XCTAssertEqual(rec(62)?.state, "TIMEOUT")
    XCTAssertEqual(rec(62)?.elapsed, "00:01:33")
    XCTAssertEqual(rec(63)?.stateText, "CANCELLED by 1001")
    XCTAssertEqual(rec(70)?.stateText, "CANCELLED")
    XCTAssertEqual(rec(70)?.signal, 15)
    XCTAssertEqual(rec(66, 5)?.jobIDRaw, 66)
    XCTAssertEqual(rec(66, 2)?.jobIDRaw, 91)
    XCTAssertEqual(rec(66, 2)?.reason, "JobArrayTaskLimit")
    XCTAssertNil(rec(75)?.start, "cancelled while pending: Start=None")
    XCTAssertEqual(rec(75)?.end, "2026-12-01T19:40:24")
    XCTAssertEqual(rec(90)?.state, "COMPLETED")
    XCTAssertEqual((0...5).compactMap { rec(66, $0)?.state }, Array(repeating: "COMPLETED", count: 6))

    let steps = SacctParser.parse(try text("sacct-final-steps-22.05.8.txt"))
    XCTAssertEqual(steps.records, r.records)
    XCTAssertEqual(steps.steps.count, 15)
    XCTAssertEqual(steps.steps.first { $0.record.id.base == 62 }?.record.state, "CANCELLED")
    XCTAssertEqual(steps.steps.first { $0.record.id.base == 62 }?.record.signal, 15)

    XCTAssertEqual(SacctParser.parse(try text("sacct-unknown-job-22.05.8.txt")), SacctResult())
  }

  // MARK: errors

  func testSacctAndSacctmgrErrors() throws {
    XCTAssertEqual(try stderrKind("sacct-dbd-down"), .transient)
    XCTAssertEqual(try stderrKind("sacctmgr-dbd-down"), .transient)
    XCTAssertEqual(try stderrKind("sacct-no-accounting"), .accountingDisabled)
    XCTAssertEqual(try stderrKind("sacctmgr-no-accounting"), .accountingDisabled)
    XCTAssertEqual(try text("sacct-dbd-down-22.05.8.txt"), "")
  }

  func testSbatchRejections() throws {
    let permanent = [
      "sbatch-reject-partition", "sbatch-reject-account", "sbatch-reject-qos", "sbatch-reject-time",
      "sbatch-reject-time-over-partition-max", "sbatch-reject-gres", "sbatch-reject-gpus",
      "sbatch-reject-nodes", "sbatch-reject-mem", "sbatch-reject-cpus", "sbatch-reject-array-size",
      "sbatch-test-only-fail",
    ]
    for stem in permanent {
      XCTAssertEqual(try stderrKind(stem), .permanent, stem)
      XCTAssertEqual(try text("\(stem)-22.05.8.txt"), "", "nothing on stdout: \(stem)")
    }
    XCTAssertEqual(try stderrKind("sbatch-reject-qos-submit-limit"), .transient)
    XCTAssertEqual(try stderrKind("sbatch-controller-down"), .transient)
    let e = SlurmErrors.error(
      command: "sbatch", stderr: try text("sbatch-reject-mem-stderr-22.05.8.txt"), exitCode: 1)
    XCTAssertEqual(
      e.message,
      "sbatch: error: Memory specification can not be satisfied\n"
        + "sbatch: error: Batch job submission failed: Requested node configuration is not available")
  }

  func testOtherCommandErrors() throws {
    XCTAssertEqual(try stderrKind("squeue-controller-down"), .transient)
    XCTAssertEqual(try stderrKind("sinfo-controller-down"), .transient)
    XCTAssertEqual(try stderrKind("scancel-controller-down"), .transient)
    XCTAssertEqual(try stderrKind("squeue-finished-job"), .permanent)
    XCTAssertEqual(try stderrKind("scancel-bad-id"), .permanent)
  }

  // MARK: sbatch success

  func testSbatchParsable() throws {
    XCTAssertEqual(
      try SbatchParser.parseParsable(try text("sbatch-parsable-ok-22.05.8.txt")), SubmitResult(jobID: 63))
    XCTAssertEqual(try SbatchParser.parseParsable(try text("sbatch-dbd-down-22.05.8.txt")).jobID, 90)
    XCTAssertEqual(try SbatchParser.parseParsable(try text("sbatch-no-accounting-qos-22.05.8.txt")).jobID, 95)
    XCTAssertEqual(
      try SbatchParser.parseParsable(try text("sbatch-no-accounting-account-22.05.8.txt")).jobID, 96)
    XCTAssertThrowsError(try SbatchParser.parseParsable(try text("sbatch-test-only-ok-22.05.8.txt")))
  }

  // MARK: scontrol, sacctmgr

  func testShowConfig() throws {
    let c = ScontrolParser.parseConfig(try text("scontrol-show-config-22.05.8.txt"))
    XCTAssertEqual(c.count, 193)
    XCTAssertEqual(c["AccountingStorageType"], "accounting_storage/slurmdbd")
    XCTAssertEqual(c["SlurmctldHost[0]"], "vm(127.0.0.1)")
    let l = ScontrolParser.limits(fromConfig: c)
    XCTAssertEqual(l.maxArraySize, 1001)
    XCTAssertEqual(l.minJobAge, 30)
    XCTAssertEqual(l.messageTimeout, 10)
    let none = ScontrolParser.parseConfig(try text("scontrol-show-config-no-accounting-22.05.8.txt"))
    XCTAssertEqual(none["AccountingStorageType"], "accounting_storage/none")
    XCTAssertEqual(none["AccountingStorageEnforce"], "none")
    XCTAssertEqual(ScontrolParser.parseConfig(try text("scontrol-ping-up-22.05.8.txt")), [:])
  }

  func testSacctmgrLimits() throws {
    let a = SacctmgrParser.parseAssociations(try text("sacctmgr-assoc-22.05.8.txt"))
    XCTAssertEqual(a.skipped, [])
    XCTAssertEqual(
      a.items,
      [
        SlurmAssociation(
          cluster: "sluice", account: "research", user: "sluicetest", qos: ["limited", "normal"])
      ])
    let q = SacctmgrParser.parseQOS(try text("sacctmgr-qos-22.05.8.txt"))
    XCTAssertEqual(
      q.items, [SlurmQOS(name: "normal"), SlurmQOS(name: "limited", maxJobsPerUser: 2, maxSubmitPerUser: 4)])
    let limited = SacctmgrParser.applyLimits(associations: a.items, qos: q.items, qosInUse: "limited")
    XCTAssertEqual(limited.maxSubmitJobs, 4, "the 5th --qos=limited submission was refused")
    XCTAssertEqual(limited.maxSubmitJobsSource, "qos limited MaxSubmitPU=4")
    XCTAssertEqual(limited.maxJobs, 2)
    let normal = SacctmgrParser.applyLimits(associations: a.items, qos: q.items, qosInUse: "normal")
    XCTAssertNil(normal.maxSubmitJobs)
    XCTAssertNil(normal.maxJobs)
  }
}
