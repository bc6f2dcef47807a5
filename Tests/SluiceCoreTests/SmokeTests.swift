import XCTest

@testable import SluiceCore

final class SmokeTests: XCTestCase {
  func testJobIDDescription() {
    XCTAssertEqual(JobID(base: 12, arrayTask: 3).description, "12_3")
  }
}
