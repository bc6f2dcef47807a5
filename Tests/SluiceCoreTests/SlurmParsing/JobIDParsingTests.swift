import XCTest

@testable import SluiceCore

final class JobIDParsingTests: XCTestCase {
  func testValidForms() {
    XCTAssertEqual(JobID.parse("123"), JobID(base: 123))
    XCTAssertEqual(JobID.parse("  123\n"), JobID(base: 123))
    XCTAssertEqual(JobID.parse("123_7"), JobID(base: 123, arrayTask: 7))
    XCTAssertEqual(JobID.parse("123_0"), JobID(base: 123, arrayTask: 0))
    XCTAssertEqual(JobID.parse("123_[4-9%3]"), JobID(base: 123, arrayRange: "4-9%3"))
    XCTAssertEqual(JobID.parse("1080_[5-1024]"), JobID(base: 1080, arrayRange: "5-1024"))
    XCTAssertEqual(JobID.parse("20956421_[2-4%25]"), JobID(base: 20956421, arrayRange: "2-4%25"))
    XCTAssertEqual(JobID.parse("7_[1,3,5-7]"), JobID(base: 7, arrayRange: "1,3,5-7"))
    XCTAssertEqual(JobID.parse("93+0"), JobID(base: 93, hetOffset: 0))
    XCTAssertEqual(JobID.parse("67767+1"), JobID(base: 67767, hetOffset: 1))
    for text in ["123", "123_7", "123_[4-9%3]", "93+2"] {
      XCTAssertEqual(JobID.parse(text)?.description, text)
    }
  }

  func testRejectsGarbage() {
    let bad = [
      "", " ", "abc", "-5", "+5", "0", "00", "12a", "12 13", "123_", "_7", "123_x", "123_[]",
      "123_[a-b]", "123_[4-9", "123_4-9", "93+", "+0", "93+x", "123.batch", "1e5", "１２３",
      "99999999999999999999", "123_-1", "123__7", "N/A", "(null)", "JOBID", "123;cluster",
    ]
    for text in bad {
      XCTAssertNil(JobID.parse(text), text)
    }
  }

  func testSteps() throws {
    let a = try XCTUnwrap(JobID.parseStep("123.batch"))
    XCTAssertEqual(a.job, JobID(base: 123))
    XCTAssertEqual(a.step, "batch")
    let b = try XCTUnwrap(JobID.parseStep("7216821_144.extern"))
    XCTAssertEqual(b.job, JobID(base: 7216821, arrayTask: 144))
    XCTAssertEqual(b.step, "extern")
    let c = try XCTUnwrap(JobID.parseStep("2710593.19"))
    XCTAssertEqual(c.step, "19")
    let d = try XCTUnwrap(JobID.parseStep("5610980.ext+"))
    XCTAssertEqual(d.step, "ext+")
    let e = try XCTUnwrap(JobID.parseStep("42"))
    XCTAssertNil(e.step)
    XCTAssertNil(JobID.parseStep("123."))
    XCTAssertNil(JobID.parseStep(".batch"))
    XCTAssertNil(JobID.parseStep("x.batch"))
  }
}
