import FoundationEssentials
import Glibc

/// A marker change sluice wants to make: task `taskID` from `from` to `to`.
public struct MarkerEdit: Equatable, Sendable {
  public var taskID: String
  public var title: String
  public var from: Marker
  public var to: Marker
  public init(taskID: String, title: String, from: Marker, to: Marker) {
    self.taskID = taskID
    self.title = title
    self.from = from
    self.to = to
  }
}

/// What happened to the edits.
public struct WriteBackReport: Equatable, Sendable {
  public var applied: [MarkerEdit] = []
  /// Task line no longer found, or its marker was changed by someone else.
  public var skipped: [(edit: MarkerEdit, reason: String)] = []
  /// The file had changed since it was read and the edits were re-applied.
  public var reapplied = false

  public static func == (a: WriteBackReport, b: WriteBackReport) -> Bool {
    a.applied == b.applied && a.reapplied == b.reapplied
      && a.skipped.map(\.edit) == b.skipped.map(\.edit)
  }
}

public enum WriteBack {
  /// Applies `edits` to the bytes of `document`, changing only marker characters.
  /// An edit applies only where the task (found by id) still shows `from`, so a
  /// person's marker change made in the meantime wins.
  public static func apply(_ edits: [MarkerEdit], to document: TasksDocument)
    -> (Data, [MarkerEdit], [(MarkerEdit, String)])
  {
    var bytes = [UInt8](document.data)
    var applied: [MarkerEdit] = []
    var skipped: [(MarkerEdit, String)] = []
    for e in edits {
      guard let t = document.task(id: e.taskID) else {
        skipped.append((e, "task '\(e.title)' is no longer in the file"))
        continue
      }
      if t.marker == e.to {
        continue
      }
      if t.marker != e.from {
        skipped.append((e, "marker was changed to [\(t.marker.rawValue)] by someone else"))
        continue
      }
      guard t.markerOffset < bytes.count else { continue }
      bytes[t.markerOffset] = Array(e.to.rawValue.utf8)[0]
      applied.append(e)
    }
    return (Data(bytes), applied, skipped)
  }

  /// Writes marker changes to the tasks file at `path` safely: if the file is
  /// unchanged since `document` was read, the edits go in at their offsets;
  /// otherwise it is re-read, re-parsed and the edits re-applied, so nobody's
  /// edit is lost. The write is atomic (temp file, fsync, rename).
  public static func write(
    _ edits: [MarkerEdit], document: TasksDocument, mode: mode_t = 0o644
  ) throws -> WriteBackReport {
    var report = WriteBackReport()
    if edits.isEmpty { return report }
    var doc = document
    for attempt in 0..<5 {
      let onDisk = try Files.read(doc.path)
      if onDisk != doc.data {
        doc = try TasksParser.parse(onDisk, path: doc.path)
        report.reapplied = true
      }
      let (data, applied, skipped) = apply(edits, to: doc)
      report.applied = applied
      report.skipped = skipped.map { (edit: $0.0, reason: $0.1) }
      if applied.isEmpty { return report }
      // Last check just before the rename: someone may have written meanwhile.
      let again = try Files.read(doc.path)
      if again != doc.data && attempt < 4 { continue }
      let existing = currentMode(doc.path) ?? mode
      try Files.writeAtomically(doc.path, data, mode: existing)
      return report
    }
    return report
  }

  /// The edits that take a tasks file written with `guessed` to where `wanted`
  /// would have taken it: a task's guessed marker goes on to the wanted one, or
  /// back to what it was when no change was wanted (its runs went back to queued).
  public static func correction(_ guessed: [MarkerEdit], _ wanted: [MarkerEdit]) -> [MarkerEdit] {
    var out: [MarkerEdit] = []
    for g in guessed {
      let w = wanted.first { $0.taskID == g.taskID }
      let to = w?.to ?? g.from
      if to != g.to { out.append(MarkerEdit(taskID: g.taskID, title: g.title, from: g.to, to: to)) }
    }
    for w in wanted where !guessed.contains(where: { $0.taskID == w.taskID }) { out.append(w) }
    return out
  }

  /// One report for a write-back followed by a second that corrected it: each
  /// task's net change (none, where the second undid the first), what either skipped.
  public static func merge(_ first: WriteBackReport, _ second: WriteBackReport) -> WriteBackReport {
    var out = first
    for e in second.applied {
      if let k = out.applied.firstIndex(where: { $0.taskID == e.taskID }) {
        out.applied[k].to = e.to
        if out.applied[k].from == e.to { out.applied.remove(at: k) }
      } else {
        out.applied.append(e)
      }
    }
    out.skipped += second.skipped
    return out
  }

  static func currentMode(_ path: String) -> mode_t? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o7777
  }
}
