import XCTest

@testable import SluiceCore

final class ScontrolParserTests: XCTestCase {
  // MARK: show config (no sample in the collection: layout as scontrol prints it)

  private let config = """
    Configuration data as of 2024-05-02T10:11:12
    AccountingStorageEnforce = associations,limits,qos,safe
    AccountingStorageType   = accounting_storage/slurmdbd
    ClusterName             = alpha
    MaxArraySize            = 1001
    MaxJobCount             = 10000
    MessageTimeout          = 10 sec
    MinJobAge               = 300 sec
    SchedulerParameters     = bf_max_job_test=500,bf_window=2880
    SlurmctldHost[0]        = ctl(10.0.0.1)
    SLURM_VERSION           = 22.05.9

    Cgroup Support Configuration:
    AllowedRAMSpace         = 100.0%
    ClusterName             = shadowed

    Slurmctld(primary) at ctl is UP
    """

  func testShowConfig() {
    let c = ScontrolParser.parseConfig(config)
    XCTAssertEqual(c["AccountingStorageType"], "accounting_storage/slurmdbd")
    XCTAssertEqual(c["SchedulerParameters"], "bf_max_job_test=500,bf_window=2880")
    XCTAssertEqual(c["SlurmctldHost[0]"], "ctl(10.0.0.1)")
    XCTAssertEqual(c["AllowedRAMSpace"], "100.0%")
    XCTAssertEqual(c["ClusterName"], "alpha", "first value wins")
    XCTAssertNil(c["Configuration data as of 2024-05-02T10:11:12"])
    XCTAssertEqual(c.count, 11)
    let l = ScontrolParser.limits(fromConfig: c)
    XCTAssertEqual(l.maxArraySize, 1001)
    XCTAssertEqual(l.minJobAge, 300)
    XCTAssertEqual(l.messageTimeout, 10)
    XCTAssertNil(l.maxSubmitJobs)
  }

  func testLimitsKeepUnreadable() {
    var start = SlurmLimits()
    start.maxArraySize = 5
    start.maxJobs = 3
    let l = ScontrolParser.limits(
      fromConfig: ["MaxArraySize": "lots", "MinJobAge": "2 min", "MessageTimeout": "10 fortnights"],
      into: start)
    XCTAssertEqual(l.maxArraySize, 5)
    XCTAssertEqual(l.minJobAge, 120)
    XCTAssertNil(l.messageTimeout)
    XCTAssertEqual(l.maxJobs, 3)
    XCTAssertEqual(ScontrolParser.parseSeconds("300"), 300)
    XCTAssertNil(ScontrolParser.parseSeconds(""))
    XCTAssertNil(ScontrolParser.parseSeconds("-3 sec"))
  }

  // MARK: records

  func testRecordsMultiLineAndBareWords() throws {
    let records = ScontrolParser.parseRecords(
      try Fixture.text("scontrol-show-job-pending-heldadmin-reqnodenotavail-unknown.txt"))
    XCTAssertEqual(records.count, 2)
    let a = records[0]
    XCTAssertEqual(a["JobId"], "1")
    XCTAssertEqual(a["JobState"], "PENDING")
    XCTAssertEqual(a["Reason"], "JobHeldAdmin")
    XCTAssertEqual(a["AllocNode:Sid"], "login-2:20721")
    XCTAssertEqual(a["TresPerNode"], "gpu:titanxp:1", "the next line's bare word is not appended")
    XCTAssertEqual(a["NtasksPerTRES:0"], "")
    XCTAssertEqual(a["Power"], "")
    let b = records[1]
    XCTAssertEqual(b["Reason"], "ReqNodeNotAvail,_UnavailableNodes:node8,nodek4,nodep[1-2],nodex3")
    XCTAssertEqual(b["StartTime"], "None", "quotes removed")
    XCTAssertEqual(b["TRES"], "cpu=10,mem=40G,node=1,billing=1,gres/gpu=1")

    let q0 = try XCTUnwrap(ScontrolParser.queuedJob(from: a))
    XCTAssertEqual(q0.id, JobID(base: 1))
    XCTAssertEqual(q0.user, "nobody")
    XCTAssertEqual(q0.gpus, 1)
    XCTAssertEqual(q0.partition, "long")
    XCTAssertNil(q0.startTime)
    XCTAssertEqual(q0.submitTime, "2020-12-15T16:44:08")
    let q1 = try XCTUnwrap(ScontrolParser.queuedJob(from: b))
    XCTAssertEqual(q1.name, "imagenet.sh")
    XCTAssertNil(q1.startTime)
  }

  func testSampleMultiJobArray() throws {
    let records = ScontrolParser.parseRecords(
      try Fixture.text("scontrol-show-job-multi-pending-array-unknown.txt"))
    XCTAssertEqual(records.count, 9)
    let jobs = records.compactMap(ScontrolParser.queuedJob(from:))
    XCTAssertEqual(jobs.count, 9)
    XCTAssertEqual(records[0].values("Nodes"), ["node-63", "node-64", "node-65"])
    XCTAssertEqual(records[0].values("CPU_IDs"), ["22-23", "0,4-7", "20-21"])
    XCTAssertEqual(jobs[0].id, JobID(base: 1))
    XCTAssertEqual(jobs[0].state, "RUNNING")
    XCTAssertEqual(jobs[0].user, "user1")
    XCTAssertEqual(jobs[1].id, JobID(base: 2398463, arrayTask: 150))
    XCTAssertEqual(jobs[1].state, "COMPLETED")
    XCTAssertEqual(jobs[2].gpus, 4, "TRES gres/gpu=4")
    XCTAssertEqual(jobs[3].reason, "AssocGrpCpuLimit")
    XCTAssertEqual(jobs[3].partition, "long,other")
    XCTAssertEqual(records[4]["ArrayTaskThrottle"], "20")
    XCTAssertEqual(jobs[4].id, JobID(base: 2423430, arrayTask: 72))
    XCTAssertEqual(jobs[4].gpus, 1)
    XCTAssertEqual(jobs[5].reason, "PartitionConfig")
    XCTAssertEqual(records[5]["SchedNodeList"], "doppelganger,dune3")
    XCTAssertEqual(records[5]["NumNodes"], "2-2")
    XCTAssertEqual(jobs[6].gpus, 0)
    XCTAssertEqual(jobs[7].gpus, 1, "gres/gg=1,gres/gg:g0=1,gres/gpu=1")
    XCTAssertEqual(jobs[8].gpus, 1, "gres/gpu=1 and gres/gpu:rtx2080=1 are the same GPU")
    XCTAssertEqual(records[8]["TresPerNode"], "gpu:rtx2080,gg:g0")
    XCTAssertEqual(Gres.requestedGPUs(records[8]["TresPerNode"] ?? ""), 1)
    XCTAssertEqual(records[8]["GRES"], "gpu:rtx2080:1(IDX:1),gg:g0(CNT:1)")
  }

  // MARK: show node

  func testSampleNode17_11() throws {
    let text = try Fixture.text("scontrol-show-node-gres-idle-drain-reason-17.11.txt")
    let records = ScontrolParser.parseRecords(text)
    XCTAssertEqual(records.map { $0["NodeName"] }, ["cortex-01", "dumfries-002", "oxygen-04", "cricket"])
    XCTAssertEqual(records[0]["OS"], "Linux 4.14.61-aufs-1 #1 SMP Tue Aug 7 18:13:22 IDT 2018")
    XCTAssertEqual(records[2]["Reason"], "memory issues? [root@2019-01-29T10:42:12]")
    XCTAssertEqual(records[2]["AllocTRES"], "")

    let r = ScontrolParser.parseNodes(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 2 + 3 + 4 + 6)
    let cortex = r.items.filter { $0.name == "cortex-01" }
    XCTAssertEqual(cortex.map(\.partition), ["short", "killable"])
    let c = cortex[0]
    XCTAssertEqual(c.state.base, .allocated)
    XCTAssertEqual([c.cpusAllocated, c.cpusIdle, c.cpusOther, c.cpusTotal], [16, 0, 0, 16])
    XCTAssertEqual(c.memoryMB, 257860)
    XCTAssertEqual(c.allocatedMemoryMB, 196608)
    XCTAssertEqual([c.gpusTotal, c.gpusUsed], [8, 8])
    let oxygen = try XCTUnwrap(r.items.first { $0.name == "oxygen-04" })
    XCTAssertEqual(oxygen.state.base, .idle)
    XCTAssertEqual(oxygen.state.flags, ["drain"])
    XCTAssertFalse(oxygen.state.usable)
    XCTAssertEqual([oxygen.cpusIdle, oxygen.cpusOther], [0, 48])
    XCTAssertEqual([oxygen.gpusTotal, oxygen.gpusUsed], [0, 0])
    let cricket = try XCTUnwrap(r.items.first { $0.name == "cricket" })
    XCTAssertEqual([cricket.gpusTotal, cricket.gpusUsed], [1, 0], "gpu:quadro:1(S:0),vmem:2G")
    XCTAssertTrue(cricket.state.usable)
    XCTAssertEqual(cricket.cpusIdle, 8)
  }

  func testSampleNode20_11() throws {
    let r = ScontrolParser.parseNodes(try Fixture.text("scontrol-show-node-gres-typed-socket-20.11.8.txt"))
    XCTAssertEqual(r.items.count, 8)
    let n = r.items[0]
    XCTAssertEqual(n.name, "test-node")
    XCTAssertEqual(n.partition, "unkillable")
    XCTAssertEqual(n.state.base, .mixed)
    XCTAssertEqual([n.cpusAllocated, n.cpusIdle, n.cpusTotal], [28, 52, 80])
    XCTAssertEqual(n.gpusTotal, 8, "gpu:rtx8000:8(S:0-1)")
    XCTAssertEqual(n.gpusUsed, 8, "no GresUsed: AllocTRES gres/gpu=8")
    XCTAssertEqual(n.memoryMB, 386619)
    XCTAssertEqual(r.items.last?.partition, "cpu_jobs_low-grace")
  }

  func testSampleNodesOneLiner25_11() throws {
    let text = try Fixture.text("scontrol-show-nodes-oneliner-drain-maint-reserved-planned-25.11.2.txt")
    let records = ScontrolParser.parseRecords(text)
    XCTAssertEqual(records.count, 7)
    XCTAssertEqual(records[0]["Reason"], "planned_maintenance [root@2026-07-22T23:31:17]")
    XCTAssertEqual(records[0]["ReservationName"], "maintenance-2026")
    XCTAssertEqual(
      records[0]["OS"],
      "Linux 6.18.33.2-microsoft-standard-WSL2 #1 SMP PREEMPT_DYNAMIC Thu Jun 18 21:54:43 UTC 2026")
    XCTAssertEqual(records[0]["CPUEfctv"], "32")
    let r = ScontrolParser.parseNodes(text)
    let c1 = try XCTUnwrap(r.items.first { $0.name == "c1" })
    XCTAssertEqual(c1.state.flags, ["drain", "dynamic_norm", "maintenance", "reserved"])
    XCTAssertFalse(c1.state.usable)
    XCTAssertEqual([c1.cpusAllocated, c1.cpusIdle, c1.cpusOther], [6, 0, 26])
    XCTAssertEqual(c1.allocatedMemoryMB, 12288)
    let c2 = try XCTUnwrap(r.items.first { $0.name == "c2" })
    XCTAssertTrue(c2.state.flags.contains("planned"))
    XCTAssertFalse(c2.state.usable, "maintenance reservation")
    let c5 = try XCTUnwrap(r.items.first { $0.name == "c5" })
    XCTAssertEqual(c5.state.flags, ["dynamic_norm", "reserved"])
    XCTAssertFalse(c5.state.usable)
    let c6 = try XCTUnwrap(r.items.first { $0.name == "c6" })
    XCTAssertTrue(c6.state.usable)
    XCTAssertEqual(c6.cpusIdle, 32)
    XCTAssertEqual(r.items.filter { $0.name == "c1" }.map(\.partition), ["cpu", "debug", "high"])
    XCTAssertEqual(r.items.filter(\.state.usable).map(\.name), ["c6", "c7"])
  }

  func testSampleNodesOneLiner24_11() throws {
    let text = try Fixture.text("scontrol-show-nodes-oneliner-dynamic-norm-24.11.7.txt")
    let r = ScontrolParser.parseNodes(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(Set(r.items.map(\.name)).count, 12)
    let nb1 = try XCTUnwrap(r.items.first { $0.name == "nb1" })
    XCTAssertEqual([nb1.gpusTotal, nb1.gpusUsed], [4, 0])
    XCTAssertEqual(nb1.partition, "gpu")
    XCTAssertTrue(nb1.state.usable)
    let na1 = r.items.filter { $0.name == "na1" }
    XCTAssertEqual(na1.map(\.partition), ["cpu", "debug", "high"])
    XCTAssertEqual(na1[0].state.base, .mixed)
    XCTAssertEqual(na1[0].state.flags, ["dynamic_norm"])
    XCTAssertEqual([na1[0].cpusAllocated, na1[0].cpusIdle], [4, 28])
    XCTAssertEqual(na1[0].allocatedMemoryMB, 8192)
    XCTAssertTrue(r.items.allSatisfy(\.state.usable))
  }

  func testRecordWithoutNodeNameIsSkipped() {
    let r = ScontrolParser.parseNodes("Foo=bar\nNodeName=n1 State=IDLE CPUTot=4\n")
    XCTAssertEqual(r.items.map(\.name), ["n1"])
    XCTAssertEqual(r.items.first?.cpusIdle, 4)
    XCTAssertEqual(r.skipped.count, 1)
  }
}
