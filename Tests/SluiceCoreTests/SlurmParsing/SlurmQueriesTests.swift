import XCTest

@testable import SluiceCore

final class SlurmQueriesTests: XCTestCase {
  private let us = "\u{1f}"

  func testSinfo() {
    XCTAssertEqual(
      SlurmQueries.sinfoNodes(),
      [
        "sinfo", "-h", "-N", "-O",
        "NodeList:\(us),Partition:\(us),StateLong:\(us),CPUsState:\(us),Memory:\(us),AllocMem:\(us),"
          + "Gres:\(us),GresUsed:\(us)",
      ])
    XCTAssertEqual(
      Array(SlurmQueries.sinfoNodes(cluster: "alpha", partition: "gpu").suffix(3)),
      ["--clusters=alpha", "-p", "gpu"])
  }

  func testSqueue() {
    let argv = SlurmQueries.squeue(user: "alice", cluster: "beta")
    XCTAssertEqual(Array(argv.prefix(6)), ["squeue", "-h", "-r", "-u", "alice", "-O"])
    XCTAssertEqual(
      argv[6],
      "JobID:\(us),ArrayJobID:\(us),ArrayTaskID:\(us),Name:\(us),State:\(us),Reason:\(us),Partition:\(us),"
        + "tres-per-job:\(us),tres-per-node:\(us),tres-alloc:\(us),SubmitTime:\(us),StartTime:\(us),"
        + "UserName:\(us)")
    XCTAssertEqual(argv.last, "--clusters=beta")
    XCTAssertEqual(argv.count, 8)
    XCTAssertEqual(Array(SlurmQueries.squeue(user: "u", partition: "p").suffix(2)), ["-p", "p"])
  }

  func testSacctChunks() {
    let ids = (1...5).map { JobID(base: $0) } + [JobID(base: 2), JobID(base: 9, arrayTask: 3)]
    let cmds = SlurmQueries.sacct(jobIDs: ids, start: "2026-01-01T00:00:00", cluster: "c", chunkSize: 4)
    XCTAssertEqual(cmds.count, 2)
    XCTAssertEqual(
      cmds[0],
      [
        "sacct", "-P", "-n", "-X", "--delimiter=\(us)", "-S", "2026-01-01T00:00:00", "-j", "1,2,3,4", "-o",
        "JobID,JobIDRaw,JobName,State,ExitCode,Elapsed,Reason,Start,End", "--clusters=c",
      ])
    XCTAssertEqual(cmds[1][8], "5,9_3")
    XCTAssertEqual(SlurmQueries.sacct(jobIDs: [], start: "now"), [])
    XCTAssertEqual(SlurmQueries.sacct(jobIDs: ids, start: "now", chunkSize: 0).count, 6)
  }

  func testSacctmgrAndScontrol() {
    XCTAssertEqual(
      SlurmQueries.sacctmgrAssociations(user: "alice", cluster: "alpha"),
      [
        "sacctmgr", "-P", "-n", "show", "assoc", "where", "user=alice", "cluster=alpha",
        "format=Cluster,Account,User,Partition,QOS,MaxJobs,MaxSubmit,GrpJobs,GrpSubmit",
      ])
    XCTAssertEqual(
      SlurmQueries.sacctmgrQOS(),
      ["sacctmgr", "-P", "-n", "show", "qos", "format=Name,MaxJobsPU,MaxSubmitPU,MaxTRESPU"])
    XCTAssertEqual(SlurmQueries.scontrolShowConfig(), ["scontrol", "show", "config"])
    XCTAssertEqual(
      SlurmQueries.scontrolShowConfig(cluster: "x"), ["scontrol", "--clusters=x", "show", "config"])
    XCTAssertEqual(SlurmQueries.scontrolShowNode("a1"), ["scontrol", "-o", "show", "node", "a1"])
    XCTAssertEqual(
      SlurmQueries.scontrolShowJob(JobID(base: 5, arrayTask: 2)), ["scontrol", "-o", "show", "job", "5_2"])
  }

  /// The argv and the parser agree: what the parser expects is what the query asks.
  func testQueriesMatchParsers() {
    let fmt = SlurmQueries.sinfoNodes()[4]
    XCTAssertEqual(SlurmText.split(fmt, separator: ":\(us),").count, SinfoParser.fields.count)
    let line = usLine(["n1", "p*", "idle", "0/8/0/8", "1000", "0", "gpu:2", "gpu:0"])
    XCTAssertEqual(SinfoParser.parseNodes(line).items.first?.gpusTotal, 2)
  }
}
