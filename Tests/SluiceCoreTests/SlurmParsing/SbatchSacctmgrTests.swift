import XCTest

@testable import SluiceCore

final class SbatchParserTests: XCTestCase {
  func testParsable() throws {
    XCTAssertEqual(try SbatchParser.parseParsable("12345\n"), SubmitResult(jobID: 12345))
    XCTAssertEqual(try SbatchParser.parseParsable("  42;alpha \n"), SubmitResult(jobID: 42, cluster: "alpha"))
    XCTAssertEqual(try SbatchParser.parseParsable("\n7;c-2.x\n\n"), SubmitResult(jobID: 7, cluster: "c-2.x"))
    let bad = [
      "", " \n", "abc", "12;", ";alpha", "-5", "+5", "0", "12;a;b", "12 ;alpha", "12;al pha", "12\n13",
      "Submitted batch job 12", "99999999999999999999", "12abc", "１２",
    ]
    for text in bad {
      XCTAssertThrowsError(try SbatchParser.parseParsable(text), text.debugDescription) { error in
        XCTAssertTrue(error is SlurmParseError)
      }
    }
  }

  func testSubmittedLine() throws {
    XCTAssertEqual(
      try SbatchParser.parseSubmitted("Submitted batch job 8322514\n"), SubmitResult(jobID: 8322514))
    XCTAssertEqual(
      try SbatchParser.parseSubmitted("sbatch: note: x\nSubmitted batch job 5 on cluster beta\n"),
      SubmitResult(jobID: 5, cluster: "beta"))
    for text in [
      "", "Submitted batch job", "Submitted batch job x", "Submitted batch job 1\nSubmitted batch job 2",
    ] {
      XCTAssertThrowsError(try SbatchParser.parseSubmitted(text), text.debugDescription)
    }
  }
}

/// `sacctmgr` has no sample in the collection; rows as `-P -n` prints them.
final class SacctmgrParserTests: XCTestCase {
  private let assoc = """
    alpha|proj|alice||normal,limited||||
    alpha|proj|alice|gpu|limited|20|10||
    alpha|other|alice||normal||50|8|40
    alpha|proj|alice|cpu|normal|x|||
    """
  private let qos = """
    normal|||
    limited|2|4|gres/gpu=8,cpu=64
    long|||cpu=1000
    broken|x||
    """

  func testParse() {
    let a = SacctmgrParser.parseAssociations(assoc)
    XCTAssertEqual(a.items.count, 3)
    XCTAssertEqual(a.skipped.map(\.lineNumber), [4])
    XCTAssertEqual(a.items[0].qos, ["normal", "limited"])
    XCTAssertNil(a.items[0].maxSubmit)
    XCTAssertEqual(a.items[1].partition, "gpu")
    XCTAssertEqual(a.items[1].maxJobs, 20)
    XCTAssertEqual(a.items[1].maxSubmit, 10)
    XCTAssertEqual(a.items[2].grpJobs, 8)
    XCTAssertEqual(a.items[2].grpSubmit, 40)
    let q = SacctmgrParser.parseQOS(qos)
    XCTAssertEqual(q.items.map(\.name), ["normal", "limited", "long"])
    XCTAssertEqual(q.skipped.map(\.lineNumber), [4])
    XCTAssertEqual(q.items[1].maxJobsPerUser, 2)
    XCTAssertEqual(q.items[1].maxSubmitPerUser, 4)
    XCTAssertEqual(q.items[1].maxGPUsPerUser, 8)
    XCTAssertNil(q.items[2].maxGPUsPerUser)
  }

  func testTightestLimit() {
    let a = SacctmgrParser.parseAssociations(assoc).items
    let q = SacctmgrParser.parseQOS(qos).items
    let limited = SacctmgrParser.applyLimits(associations: a, qos: q, qosInUse: "limited", account: "proj")
    XCTAssertEqual(limited.maxSubmitJobs, 4)
    XCTAssertEqual(limited.maxSubmitJobsSource, "qos limited MaxSubmitPU=4")
    XCTAssertEqual(limited.maxJobs, 2)
    XCTAssertEqual(limited.maxJobsSource, "qos limited MaxJobsPU=2")

    let normal = SacctmgrParser.applyLimits(
      associations: a, qos: q, qosInUse: "normal", account: "proj", partition: "gpu")
    XCTAssertEqual(normal.maxSubmitJobs, 10)
    XCTAssertEqual(normal.maxSubmitJobsSource, "association proj/alice partition gpu MaxSubmit=10")
    XCTAssertEqual(normal.maxJobs, 20)

    let cpu = SacctmgrParser.applyLimits(
      associations: a, qos: q, qosInUse: "normal", account: "proj", partition: "cpu")
    XCTAssertNil(cpu.maxSubmitJobs)
    XCTAssertNil(cpu.maxJobs)

    let other = SacctmgrParser.applyLimits(associations: a, qos: q, qosInUse: "normal", account: "other")
    XCTAssertEqual(other.maxSubmitJobs, 40)
    XCTAssertEqual(other.maxSubmitJobsSource, "association other/alice GrpSubmit=40")
    XCTAssertEqual(other.maxJobs, 8)

    var start = SlurmLimits()
    start.maxArraySize = 1001
    let unknownQOS = SacctmgrParser.applyLimits(associations: a, qos: q, qosInUse: nil, to: start)
    XCTAssertEqual(unknownQOS.maxSubmitJobs, 4, "tightest over every QOS the user may use")
    XCTAssertEqual(unknownQOS.maxArraySize, 1001)
  }

  func testHeaderLineIgnored() {
    let text = "Cluster|Account|User|Partition|QOS|MaxJobs|MaxSubmit|GrpJobs|GrpSubmit\nc|a|u||normal|1|2||\n"
    let r = SacctmgrParser.parseAssociations(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.map(\.maxSubmit), [2])
    let q = SacctmgrParser.parseQOS("Name|MaxJobsPU|MaxSubmitPU|MaxTRESPU\nnormal|1|2|\n")
    XCTAssertEqual(q.items.map(\.name), ["normal"])
  }
}
