import Foundation
import TestSupport
import XCTest
@testable import Bundle

final class BundleArchiveTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws { folder = try makeScratchFolder("archive") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    let manifest = Data(#"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "x.idx", "targets": "y.idx"}}}"#.utf8)

    /// One raw tar header block (+ data) with any name bytes and type, checksum filled in.
    func member(_ name: [UInt8], type: UInt8 = UInt8(ascii: "0"), data: Data = Data(), size: Int? = nil) -> Data {
        var header = [UInt8](repeating: 0, count: 512)
        header.replaceSubrange(0..<min(100, name.count), with: name.prefix(100))
        for (at, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (124, String(format: "%011o", size ?? data.count)), (136, "00000000000")] {
            header.replaceSubrange(at..<(at + text.utf8.count), with: Array(text.utf8))
        }
        header[156] = type
        header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        for i in 148..<156 { header[i] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        header.replaceSubrange(148..<156, with: Array((String(format: "%06o", sum) + "\0 ").utf8))
        return Data(header) + data + Data(count: (512 - data.count % 512) % 512)
    }

    func bundle(_ parts: [Data], end: Bool = true) -> URL {
        let url = folder.appendingPathComponent("b-\(UUID().uuidString).tar.gz")
        try! Gzip.compress(parts.reduce(Data(), +) + (end ? Data(count: 1024) : Data())).write(to: url)
        return url
    }

    func assertRejected(_ url: URL, _ rule: String, limits: BundleLimits = BundleLimits(), file: StaticString = #filePath, line: UInt = #line) {
        let target = folder.appendingPathComponent("out-\(UUID().uuidString)")
        XCTAssertThrowsError(try BundleArchive.extract(url, into: target, limits: limits), rule, file: file, line: line) { error in
            XCTAssertTrue(String(describing: error).contains(rule), "expected «\(rule)» in «\(error)»", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target.path), "nothing is left behind", file: file, line: line)
    }

    func test_packThenExtract_roundTrips_andFindsTheManifestInATopFolder() throws {
        let source = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try manifest.write(to: source.appendingPathComponent("manifest.json"))
        try Data([1, 2, 3]).write(to: source.appendingPathComponent("sub/x.idx"))
        let packed = folder.appendingPathComponent("p.tar.gz")
        try BundleArchive.pack(source, to: packed)
        let root = try BundleArchive.extract(packed, into: folder.appendingPathComponent("out"))
        XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("sub/x.idx")), Data([1, 2, 3]))

        // What the system's tar makes of a folder: manifest.json one level down.
        let systemBundle = folder.appendingPathComponent("s.tar.gz")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "czf", systemBundle.path, "-C", folder.path, "data"]
        try tar.run()
        tar.waitUntilExit()
        let top = try BundleArchive.extract(systemBundle, into: folder.appendingPathComponent("out2"))
        XCTAssertEqual(top.lastPathComponent, "data")
        XCTAssertEqual(try Data(contentsOf: top.appendingPathComponent("manifest.json")), manifest)
    }

    func test_hostileArchives_areRejectedWithTheirRule() {
        let ok = member(Array("manifest.json".utf8), data: manifest)
        assertRejected(bundle([ok, member(Array("/etc/passwd".utf8), data: Data([1]))]), "path is absolute")
        assertRejected(bundle([ok, member(Array("a/../../etc/passwd".utf8), data: Data([1]))]), "no \"..\" components")
        assertRejected(bundle([ok, member(Array("link".utf8), type: UInt8(ascii: "2"))]), "no symbolic or hard links")
        assertRejected(bundle([ok, member(Array("hard".utf8), type: UInt8(ascii: "1"))]), "no symbolic or hard links")
        assertRejected(bundle([ok, member(Array("fifo".utf8), type: UInt8(ascii: "6"))]), "device or FIFO")
        assertRejected(bundle([ok, member(Array("dev".utf8), type: UInt8(ascii: "3"))]), "device or FIFO")
        assertRejected(bundle([ok, ok]), "appears twice")
        assertRejected(bundle([ok, member([0x66, 0xFF, 0xFE], data: Data([1]))]), "not valid UTF-8")
        assertRejected(bundle([member(Array("other.json".utf8), data: manifest)]), "no manifest.json")
        assertRejected(bundle([ok], end: false), "end marker")
        // Found by fuzzing: a pax record whose length ends before its own key.
        assertRejected(bundle([member(Array("pax".utf8), type: UInt8(ascii: "x"), data: Data("3 path=x\n".utf8)), ok]), "pax extended header record is malformed")
        assertRejected(bundle([ok, member(Array("big".utf8), data: Data(count: 10), size: 100_000)], end: false), "run past the end")
        var limits = BundleLimits()
        limits.maxMembers = 2
        assertRejected(bundle([ok, member(Array("a".utf8)), member(Array("b".utf8))]), "member count cap", limits: limits)
        limits = BundleLimits()
        limits.maxMemberBytes = 1000
        assertRejected(bundle([ok, member(Array("a".utf8), data: Data(count: 2000))]), "member size cap", limits: limits)
        limits = BundleLimits()
        limits.maxTotalBytes = 10_000
        assertRejected(bundle([ok, member(Array("a".utf8), data: Data(repeating: 7, count: 6000)), member(Array("b".utf8), data: Data(repeating: 7, count: 6000))]),
                       "total size cap", limits: limits)
    }

    func test_aMemberOfZeros_stopsAtTheCompressionRatioCap() {
        // A 32 MiB member of zeros compresses to about 32 KiB; a ratio cap of 50 stops inflation near 1.6 MiB.
        let url = folder.appendingPathComponent("zeros.tar.gz")
        try! Gzip.compress(member(Array("zeros.bin".utf8), data: Data(count: 32 << 20)) + Data(count: 1024), level: 9).write(to: url)
        var limits = BundleLimits()
        limits.maxCompressionRatio = 50
        assertRejected(url, "compression ratio cap", limits: limits)
    }

    func test_fourGiBOfZeros_stopsAtOnce_withMemoryBounded() throws {
        // 4,096 gzip members of 1 MiB of zeros each: 4 GiB inflated, about 4 MiB compressed.
        let one = Gzip.compress(Data(count: 1 << 20), level: 9)
        let url = folder.appendingPathComponent("zeros4g.tar.gz")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let sixtyFour = (0..<64).reduce(Data()) { data, _ in data + one }
        for _ in 0..<64 { handle.write(sixtyFour) }
        try handle.close()
        func peakMiB() -> Int { var usage = rusage(); getrusage(RUSAGE_SELF.rawValue, &usage); return usage.ru_maxrss / 1024 }
        let before = peakMiB()
        // Zeros read as tar are the end marker, then padding: refused after 1 MiB of it.
        assertRejected(url, "more than 1 MiB of padding follows the tar end marker")
        // A header claiming 3 GiB is refused by its size before any of the data is inflated.
        let claim = folder.appendingPathComponent("claim.tar.gz")
        var data = Gzip.compress(member(Array("big.bin".utf8), size: 3 << 30))
        data += try Data(contentsOf: url)
        try data.write(to: claim)
        assertRejected(claim, "more than 2147483648 (rule: member size cap)")
        XCTAssertLessThan(peakMiB() - before, 100, "memory stays bounded while reading a 4 GiB stream")
    }

    /// Every truncation is rejected, and every bit flip that a checksum or a rule covers. The
    /// gzip header's MTIME, XFL and OS bytes (4–9) and its FTEXT flag (byte 3, bit 0) are covered
    /// by none (the optional header CRC is absent, as in almost every gzip file) and change
    /// nothing the reader uses: flips there are accepted and extract the same files.
    func test_corruptedBundles_truncationsAndBitFlips_areRejected_exceptWhereNoChecksumReaches() throws {
        let good = try Data(contentsOf: bundle([member(Array("manifest.json".utf8), data: manifest), member(Array("x.idx".utf8), data: Data(repeating: 3, count: 3000))]))
        let reference = try BundleArchive.extract(writing(good, "reference"), into: folder.appendingPathComponent("reference"))
        func unchecked(_ byte: Int, _ bit: Int) -> Bool { (4...9).contains(byte) || (byte == 3 && bit == 0) }
        // Every bit of the gzip header (bytes 0–9), then random flips and truncations after it.
        var flips = (0..<10).flatMap { byte in (0..<8).map { (byte, $0) } }
        var random = TestRandom(seed: 8)
        flips += (0..<30).map { _ in (10 + random.below(good.count - 10), random.below(8)) }
        for (trial, (byte, bit)) in flips.enumerated() {
            var broken = good
            broken[byte] ^= UInt8(1 << bit)
            let url = writing(broken, "flip-\(trial)")
            if unchecked(byte, bit) {
                let root = try BundleArchive.extract(url, into: folder.appendingPathComponent("flip-\(trial)"))
                XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("x.idx")), try Data(contentsOf: reference.appendingPathComponent("x.idx")),
                               "byte \(byte) bit \(bit) changes nothing the reader uses")
            } else {
                assertRejected(url, "flip-\(trial).tar.gz: ")
            }
        }
        for trial in 0..<15 {
            assertRejected(writing(good.prefix(random.below(good.count - 1) + 1), "cut-\(trial)"), "cut-\(trial).tar.gz: ")
        }
    }

    func writing(_ data: Data, _ name: String) -> URL {
        let url = folder.appendingPathComponent("\(name).tar.gz")
        try? data.write(to: url)
        return url
    }

    func test_pack_withoutManifest_recognisesMNISTFilesAndPNGClassFolders() throws {
        let mnist = folder.appendingPathComponent("digits")
        try FileManager.default.createDirectory(at: mnist, withIntermediateDirectories: true)
        try Gzip.compress(IDXArray.encodeBytes(shape: [4, 2, 2], values: (0..<16).map(Float.init))).write(to: mnist.appendingPathComponent("train-images-idx3-ubyte.gz"))
        try Gzip.compress(IDXArray.encodeBytes(shape: [4], values: [0, 1, 0, 1])).write(to: mnist.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        try IDXArray.encodeBytes(shape: [2, 2, 2], values: (0..<8).map(Float.init)).write(to: mnist.appendingPathComponent("t10k-images-idx3-ubyte"))
        try IDXArray.encodeBytes(shape: [2], values: [1, 0]).write(to: mnist.appendingPathComponent("t10k-labels-idx1-ubyte"))
        try BundleArchive.pack(mnist, to: folder.appendingPathComponent("digits.tgz"))
        let digits = try DatasetFolder.load(BundleArchive.extract(folder.appendingPathComponent("digits.tgz"), into: folder.appendingPathComponent("d")))
        XCTAssertEqual(digits.manifest.name, "digits")
        XCTAssertEqual(digits.train.count, 4)
        XCTAssertEqual(digits.test?.count, 2)

        let pets = folder.appendingPathComponent("pets")
        for (split, name) in [("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "dog")] {
            let classFolder = pets.appendingPathComponent("\(split)/\(name)")
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            try makePNG(width: 2, height: 2, color: 2, depth: 8, samples: (0..<4).map { _ in [1, 2, 3] }).write(to: classFolder.appendingPathComponent("a.png"))
        }
        try BundleArchive.pack(pets, to: folder.appendingPathComponent("pets.tgz"))
        let loaded = try DatasetFolder.load(BundleArchive.extract(folder.appendingPathComponent("pets.tgz"), into: folder.appendingPathComponent("p")))
        XCTAssertEqual(loaded.classes, ["cat", "dog"])
        XCTAssertEqual(loaded.train.channels, 3)
        XCTAssertEqual(loaded.test?.targets, [0, 1])

        let empty = folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try BundleArchive.pack(empty, to: folder.appendingPathComponent("e.tgz"))) {
            XCTAssertTrue("\($0)".contains("neither MNIST-style IDX files"), "\($0)")
        }
    }
}
