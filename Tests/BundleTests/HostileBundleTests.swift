import Foundation
import TestSupport
import XCTest
@testable import Bundle
import CZlib

/// One test per class of defect a hostile bundle found in the readers (issue: crashes, hangs,
/// memory before validation, reads outside the bundle, wrongly accepted, misclassified,
/// messages). Each must end in a `BundleError` naming the rule, quickly and with little memory.
final class HostileBundleTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeScratchFolder("hostile") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// A raw tar header block with any name bytes, type and 12-byte size field, checksum filled in.
    func header(_ name: [UInt8], type: UInt8 = UInt8(ascii: "0"), sizeField: [UInt8]) -> Data {
        var header = [UInt8](repeating: 0, count: 512)
        header.replaceSubrange(0..<min(100, name.count), with: name.prefix(100))
        for (at, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (136, "00000000000")] {
            header.replaceSubrange(at..<(at + text.utf8.count), with: Array(text.utf8))
        }
        header.replaceSubrange(124..<(124 + sizeField.count), with: sizeField)
        header[156] = type
        header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        for i in 148..<156 { header[i] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        header.replaceSubrange(148..<156, with: Array((String(format: "%06o", sum) + "\0 ").utf8))
        return Data(header)
    }

    func octal(_ size: Int) -> [UInt8] { Array(String(format: "%011o", size).utf8) }

    func member(_ name: String, _ data: Data, type: UInt8 = UInt8(ascii: "0")) -> Data {
        header(Array(name.utf8), type: type, sizeField: octal(data.count)) + data + Data(count: (512 - data.count % 512) % 512)
    }

    func pax(_ records: [(String, String)]) -> Data {
        var body = Data()
        for (key, value) in records {
            let text = " \(key)=\(value)\n"
            var length = text.utf8.count + 1
            while "\(length)".utf8.count + text.utf8.count != length { length += 1 }
            body += Data("\(length)\(text)".utf8)
        }
        return member("PaxHeader", body, type: UInt8(ascii: "x"))
    }

    func bundle(_ parts: [Data]) -> URL {
        let url = folder.appendingPathComponent("b-\(UUID().uuidString).tar.gz")
        try! Gzip.compress(parts.reduce(Data(), +) + Data(count: 1024)).write(to: url)
        return url
    }

    func assertRejected(_ url: URL, _ rule: String, limits: BundleLimits = BundleLimits(), file: StaticString = #filePath, line: UInt = #line) {
        let target = folder.appendingPathComponent("out-\(UUID().uuidString)")
        let start = Date()
        XCTAssertThrowsError(try BundleArchive.extract(url, into: target, limits: limits), rule, file: file, line: line) { error in
            XCTAssertTrue(String(describing: error).contains(rule), "expected «\(rule)» in «\(error)»", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused quickly", file: file, line: line)
    }

    let manifest = Data(#"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "x.idx", "targets": "y.idx"}}}"#.utf8)

    // MARK: Crashes

    func test_tarSizesNearTheIntegerMaximum_areRefused_notOverflowed() {
        // pax size: Int.max; base-256 size field: 0x3F FF FF … (the largest it can say).
        assertRejected(bundle([pax([("size", String(Int.max))]) + member("x", Data())]), "more than any member may hold (rule: size)")
        var base256 = [UInt8](repeating: 0xFF, count: 12)
        base256[0] = 0x80 | 0x3F
        assertRejected(bundle([header(Array("d/".utf8), type: UInt8(ascii: "5"), sizeField: base256)]), "the size field")
        assertRejected(bundle([header(Array("d/".utf8), type: UInt8(ascii: "5"), sizeField: octal(1 << 33 - 1) + [0])]), "truncated")
    }

    func test_labelsBeyondAnyInteger_areRefused_notTrapped() throws {
        try IDXArray.encodeBytes(shape: [2, 2, 2], values: [Float](repeating: 1, count: 8)).write(to: folder.appendingPathComponent("x.idx"))
        try IDXArray.encodeFloats(shape: [2], values: [1e30, 0]).write(to: folder.appendingPathComponent("y.idx"))
        try manifest.write(to: folder.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) {
            XCTAssertTrue("\($0)".contains("label 0 is 1e+30; labels must be class indices from 0 to 9999 when the manifest names no classes (rule: class count cap"), "\($0)")
        }
        // One label of 1e8 and no class list would make 100,000,001 classes.
        try IDXArray.encodeFloats(shape: [2], values: [1e8, 0]).write(to: folder.appendingPathComponent("y.idx"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue("\($0)".contains("(rule: class count cap"), "\($0)") }
    }

    // MARK: Hangs and unbounded work

    func test_aNameOfManyCombiningMarks_isRefusedByItsLength_atOnce() {
        let marks = "a" + String(repeating: "\u{301}", count: 200_000)  // 400 KB: under the 1 MiB extended-header cap
        var generous = BundleLimits()
        generous.maxCompressionRatio = 100_000  // the marks compress very well
        assertRejected(bundle([pax([("path", marks)]) + member("x", Data())]), "(rule: name length)", limits: generous)
        assertRejected(bundle([member("././@LongLink", Data(marks.utf8), type: UInt8(ascii: "L")) + member("x", Data())]), "(rule: name length)", limits: generous)
        // Under the cap, still linear: 2,000 marks in one name, many members.
        let name = "a" + String(repeating: "\u{301}", count: 120)
        var parts = [pax([("path", "m.json")]) + member("m.json", Data())]
        for i in 0..<500 { parts.append(pax([("path", "\(name)\(i)")]) + member("x", Data())) }
        assertRejected(bundle(parts), "there is no manifest.json")
    }

    func test_aFloodOfPaxHeaders_isCapped() {
        let flood = (0..<50).map { _ in pax([("comment", "x")]) }
        assertRejected(bundle(flood + [member("x", Data())]), "more than 8 extended headers come before one member (rule: extended header cap)")
    }

    func test_aCSVWithAMillionColumns_isRefusedOnItsHeader() {
        let header = Data(String(repeating: "c,", count: 1_000_000).utf8)
        XCTAssertThrowsError(try CSVTargets.parse(header + Data("\n1\n".utf8), file: "t.csv", classes: nil)) {
            XCTAssertTrue("\($0)".contains("more than 1024 columns (rule: column cap)"), "\($0)")
        }
    }

    // MARK: Memory before validation

    func test_aTinyPNGDeclaringAHugeImage_allocatesNothingForIt() throws {
        func png(width: UInt32, height: UInt32) -> Data {
            func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
                let typed = Array(type.utf8) + body
                let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
                return withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + typed + withUnsafeBytes(of: crc.bigEndian, Array.init)
            }
            let ihdr = withUnsafeBytes(of: width.bigEndian, Array.init) + withUnsafeBytes(of: height.bigEndian, Array.init) + [16, 6, 0, 0, 0]
            return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", Gzip.zlibCompress([0, 0, 0])) + chunk("IEND", []))
        }
        XCTAssertThrowsError(try PNG.decode(png(width: 16384, height: 16384), file: "big.png")) {
            XCTAssertTrue("\($0)".contains("more than 16777216 pixels (rule: image size cap"), "\($0)")
        }
        // Within the cap (4096×4096, 16-bit RGBA: 128 MiB of raw data), from a few bytes: the
        // output grows only as the data really inflates.
        let before = peakResidentBytes()
        XCTAssertThrowsError(try PNG.decode(png(width: 4096, height: 4096), file: "bomb.png")) {
            XCTAssertTrue("\($0)".contains("does not inflate to the"), "\($0)")
        }
        XCTAssertLessThan(peakResidentBytes() - before, 64 << 20, "no allocation sized by the header")
    }

    /// A FIFO where an image or an IDX file should be (an unpacked folder given to `train` or
    /// `bundle check`) is refused at once, never opened for a writer that never comes.
    func test_aFIFOInADatasetFolder_isRefusedWithoutWaiting() throws {
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("train/a"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(folder.appendingPathComponent("train/a/x.png").path, 0o644), 0)
        XCTAssertEqual(mkfifo(folder.appendingPathComponent("images.idx").path, 0o644), 0)
        try Data(#"{"format": 1, "name": "f", "task": "classification", "splits": {"train": {"inputs": "train"}}}"#.utf8)
            .write(to: folder.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) {
            XCTAssertTrue("\($0)".contains("x.png: cannot be read: it is not a regular file"), "\($0)")
        }
        XCTAssertThrowsError(try IDXArray.stream(from: folder.appendingPathComponent("images.idx"), limit: 1 << 20, maxValues: 1 << 20)) {
            XCTAssertTrue("\($0)".contains("images.idx: cannot be read: it is not a regular file"), "\($0)")
        }
    }

    func peakResidentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    func test_aGzippedIDXBomb_stopsAtTheMemberCap() throws {
        let bomb = Gzip.compress(IDXArray.encodeBytes(shape: [1], values: [0]).prefix(8) + Data(count: 32 << 20))
        XCTAssertLessThan(bomb.count, 64 << 10)
        XCTAssertThrowsError(try IDXArray.parse(bomb, file: "x.idx.gz", limit: 1 << 20)) {
            XCTAssertTrue("\($0)".contains("member size cap"), "\($0)")
        }
    }

    func test_theValuesOfADataset_fitTheTotalSizeCapAsFloats_checkedOnTheHeaders() throws {
        var limits = BundleLimits()
        limits.maxTotalBytes = 4000  // room for 1,000 float values
        try IDXArray.encodeBytes(shape: [10, 10, 10], values: [Float](repeating: 1, count: 1000)).write(to: folder.appendingPathComponent("x.idx"))
        try IDXArray.encodeBytes(shape: [10], values: (0..<10).map { Float($0 % 2) }).write(to: folder.appendingPathComponent("y.idx"))
        try manifest.write(to: folder.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(folder, limits: limits)) {
            XCTAssertTrue("\($0)".contains("holds 10 values, more than the 0 left to the dataset (rule: total size cap, counted in values)"), "\($0)")
        }
        limits.maxTotalBytes = 4040
        XCTAssertNoThrow(try DatasetFolder.load(folder, limits: limits))
    }

    func test_aHugeManifest_isNotReadWhole() throws {
        try Data(count: 2 << 20).write(to: folder.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue("\($0)".contains("more than 1048576 (rule: manifest size cap)"), "\($0)") }
    }

    // MARK: Reads outside the bundle, wrongly accepted

    func test_aSplitNamingAFolderOutsideTheBundle_isRefused() throws {
        let dataset = folder.appendingPathComponent("dataset")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("beside/a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dataset, withIntermediateDirectories: true)
        try Data(#"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "../beside"}}}"#.utf8)
            .write(to: dataset.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(dataset)) {
            XCTAssertTrue("\($0)".contains(#""splits.train.inputs" must be a relative path inside the bundle: path leaves the bundle"#), "\($0)")
        }
    }

    func test_emptySplits_areRefused() throws {
        try IDXArray.encodeBytes(shape: [0, 2, 2], values: []).write(to: folder.appendingPathComponent("x.idx"))
        try IDXArray.encodeBytes(shape: [0], values: []).write(to: folder.appendingPathComponent("y.idx"))
        try manifest.write(to: folder.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue("\($0)".contains("the train split has no images"), "\($0)") }
    }

    // MARK: Misclassified errors and messages

    func test_namesTooLongForTheFileSystem_areTheBundlesFault_withTheRule() {
        let long = String(repeating: "n", count: 300)
        assertRejected(bundle([pax([("path", "d/\(long)")]) + member("x", Data())]), "a part of the path is longer than 255 bytes (rule: name length)")
        let deep = (0..<30).map { _ in String(repeating: "p", count: 200) }.joined(separator: "/")
        assertRejected(bundle([pax([("path", deep)]) + member("x", Data())]), "more than 4096 (rule: name length)")
    }

    func test_dataErrors_nameTheBundleAndMember_notTheStagingFolder() throws {
        let staging = folder.appendingPathComponent("staging-7f3a")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        try IDXArray.encodeBytes(shape: [2, 2, 2], values: [Float](repeating: 1, count: 8)).write(to: staging.appendingPathComponent("x.idx"))
        try Data("not idx".utf8).write(to: staging.appendingPathComponent("y.idx"))
        try manifest.write(to: staging.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try DatasetFolder.load(staging, displayName: "digits.tar.gz")) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("digits.tar.gz: y.idx: not a valid IDX file"), text)
            XCTAssertFalse(text.contains("staging-7f3a"), text)
        }
    }
}
