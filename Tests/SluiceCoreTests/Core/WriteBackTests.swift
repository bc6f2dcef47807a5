import XCTest

@testable import SluiceCore

final class WriteBackTests: XCTestCase {
  func testOnlyMarkerBytesChangeAndRoundTripIsExact() throws {
    let dir = makeTempDir(self)
    let path = dir + "/tasks.md"
    let text =
      "# T\r\n\nSome *text* é\n## P\n- [ ] A\n  - run: echo a\n- [ ] B\n  - run: echo b\n  - note: x\n"
    write(path, text)
    let doc = try TasksParser.parse(try Files.read(path), path: path)
    XCTAssertEqual(doc.data, Data(text.utf8), "parse keeps the bytes")
    let edits = [MarkerEdit(taskID: doc.tasks[1].id, title: "B", from: .todo, to: .inProgress)]
    let report = try WriteBack.write(edits, document: doc)
    XCTAssertEqual(report.applied.count, 1)
    XCTAssertFalse(report.reapplied)
    XCTAssertEqual(read(path), text.replacingOccurrences(of: "- [ ] B", with: "- [/] B"))
  }

  func testConcurrentEditIsKeptAndEditsReapplied() throws {
    let dir = makeTempDir(self)
    let path = dir + "/tasks.md"
    write(path, "## P\n- [ ] A\n  - run: echo a\n- [ ] B\n  - run: echo b\n")
    let doc = try TasksParser.parse(try Files.read(path), path: path)
    // Someone inserts lines above the tasks and adds a task after sluice read the file.
    write(
      path,
      "# New title\nA note the agent wrote.\n\n## P\n- [ ] A\n  - run: echo a\n- [ ] B\n  - run: echo b\n- [ ] C\n"
    )
    let edits = [
      MarkerEdit(taskID: doc.tasks[0].id, title: "A", from: .todo, to: .done),
      MarkerEdit(taskID: doc.tasks[1].id, title: "B", from: .todo, to: .inProgress),
    ]
    let report = try WriteBack.write(edits, document: doc)
    XCTAssertTrue(report.reapplied)
    XCTAssertEqual(report.applied.count, 2)
    XCTAssertEqual(
      read(path),
      "# New title\nA note the agent wrote.\n\n## P\n- [x] A\n  - run: echo a\n- [/] B\n  - run: echo b\n- [ ] C\n"
    )
  }

  func testPersonsMarkerChangeWinsAndMissingTaskIsReported() throws {
    let dir = makeTempDir(self)
    let path = dir + "/tasks.md"
    write(path, "## P\n- [ ] A\n  - run: echo a\n- [ ] B\n  - run: echo b\n")
    let doc = try TasksParser.parse(try Files.read(path), path: path)
    write(path, "## P\n- [-] A\n  - run: echo a\n")
    let report = try WriteBack.write(
      [
        MarkerEdit(taskID: doc.tasks[0].id, title: "A", from: .todo, to: .inProgress),
        MarkerEdit(taskID: doc.tasks[1].id, title: "B", from: .todo, to: .inProgress),
      ], document: doc)
    XCTAssertEqual(report.applied.count, 0)
    XCTAssertEqual(report.skipped.count, 2)
    XCTAssertTrue(report.skipped[0].reason.contains("changed"))
    XCTAssertTrue(report.skipped[1].reason.contains("no longer"))
    XCTAssertEqual(read(path), "## P\n- [-] A\n  - run: echo a\n")
  }

  func testWriteIsAtomicAndKeepsMode() throws {
    let dir = makeTempDir(self)
    let path = dir + "/tasks.md"
    write(path, "- [ ] A\n  - run: x\n")
    chmod(path, 0o640)
    let doc = try TasksParser.parse(try Files.read(path), path: path)
    _ = try WriteBack.write(
      [MarkerEdit(taskID: doc.tasks[0].id, title: "A", from: .todo, to: .failed)], document: doc)
    var st = stat()
    stat(path, &st)
    XCTAssertEqual(st.st_mode & 0o777, 0o640)
    XCTAssertEqual(Files.list(dir), ["tasks.md"], "no temp file left behind")
  }

  /// A write-back guessed while sbatch worked, put right once its answer is known.
  func testCorrectionOfAGuessedWriteBack() throws {
    func e(_ id: String, _ from: Marker, _ to: Marker) -> MarkerEdit {
      MarkerEdit(taskID: id, title: id, from: from, to: to)
    }
    let guessed = [e("a", .todo, .inProgress), e("b", .todo, .inProgress), e("c", .todo, .inProgress)]
    // a: accepted (as guessed); b: rejected for good; c: back to queued; d: wanted, not guessed.
    let wanted = [e("a", .todo, .inProgress), e("b", .todo, .failed), e("d", .inProgress, .done)]
    XCTAssertEqual(
      WriteBack.correction(guessed, wanted),
      [e("b", .inProgress, .failed), e("c", .inProgress, .todo), e("d", .inProgress, .done)])
    XCTAssertEqual(WriteBack.correction(guessed, guessed), [])

    // On a file: the guess, then the correction, end where the wanted edits alone would.
    let dir = makeTempDir(self)
    let path = dir + "/tasks.md"
    let text = "## P\n- [ ] a\n  - run: `true`\n- [ ] b\n  - run: `true`\n- [ ] c\n  - run: `true`\n"
    write(path, text)
    let doc = try TasksParser.parse(try Files.read(path), path: path)
    let ids = doc.tasks.map(\.id)
    func f(_ k: Int, _ from: Marker, _ to: Marker) -> MarkerEdit {
      MarkerEdit(taskID: ids[k], title: doc.tasks[k].title, from: from, to: to)
    }
    let g = [f(0, .todo, .inProgress), f(1, .todo, .inProgress), f(2, .todo, .inProgress)]
    let w = [f(0, .todo, .inProgress), f(1, .todo, .failed)]
    let first = try WriteBack.write(g, document: doc)
    XCTAssertTrue(read(path).contains("- [/] c"))
    let second = try WriteBack.write(WriteBack.correction(g, w), document: doc)
    XCTAssertEqual(
      read(path), "## P\n- [/] a\n  - run: `true`\n- [!] b\n  - run: `true`\n- [ ] c\n  - run: `true`\n")
    let merged = WriteBack.merge(first, second)
    XCTAssertEqual(merged.applied, w, "each task's net change; c's was undone")
    XCTAssertTrue(merged.skipped.isEmpty)
  }
}
