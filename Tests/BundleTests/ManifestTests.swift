import Foundation
import TestSupport
import XCTest
@testable import Bundle

final class ManifestTests: XCTestCase {
    let minimal = #"{"format": 1, "name": "digits", "task": "classification", "splits": {"train": {"inputs": "x.idx", "targets": "y.idx"}}}"#

    func test_parse_minimalAndFull_andRoundTrip() throws {
        let plain = try Manifest.parse(Data(minimal.utf8), file: "manifest.json")
        XCTAssertEqual(plain.name, "digits")
        XCTAssertNil(plain.test)
        let full = """
            {"format": 1, "name": "rot-mnist_2", "task": "classification", "classes": ["a", "b"],
             "splits": {"train": {"inputs": "x.idx", "targets": "y.idx"}, "test": {"inputs": "tx.idx", "targets": "ty.idx"}},
             "input": {"mean": 0.5, "std": 2}, "augmentation": {"generators": ["rotation"], "initial_theta": {"rotation": 0.313}},
             "model": {"architecture": "simpleconv", "width": 8},
             "training": {"epochs": 3, "batch_size": 16, "learning_rate": 0.01, "regularization": 0.1, "test_copies": 2, "seed": 18446744073709551615,
                          "schedule": "constant", "reward_cap": 2.5}}
            """
        let parsed = try Manifest.parse(Data(full.utf8), file: "manifest.json")
        XCTAssertEqual(parsed.initialTheta, ["rotation": 0.313])
        XCTAssertEqual(parsed.settings.choice(.architecture), "simpleconv")
        XCTAssertEqual(parsed.settings.seed(.seed), UInt64.max, "a seed is read from its digits, not through a double")
        XCTAssertEqual(parsed.settings.real(.learningRate), 0.01)
        XCTAssertEqual(parsed.settings.choice(.schedule), "constant")
        XCTAssertEqual(parsed.settings.settings.count, 11, "nine of training and model, and augmentation.generators")
        XCTAssertEqual(parsed.generators, ["rotation"])
        XCTAssertEqual(parsed.settings.names(.generators), ["rotation"], "the settings table's generators")
        XCTAssertTrue(String(decoding: try parsed.encoded(), as: UTF8.self).contains("\"learning_rate\" : 0.01"), "reals are written as read")
        XCTAssertEqual(try Manifest.parse(parsed.encoded(), file: "again.json"), parsed)
    }

    func test_parse_rejectsWhatJSONSerializationLetThrough_withTheRuleAndThePlace() {
        let text = minimal.dropLast()  // without its closing brace, to append keys
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let cases: [(Data, String)] = [
            (Data((text + #", "task": "regression"}"#).utf8), #"line 1, column 121: the key "task" appears twice in one object (rule: no duplicate keys)"#),
            (Data(minimal.replacingOccurrences(of: #""format": 1"#, with: #""format": 1.5"#).utf8), #""format" must be the whole number 1 (found 1.5)"#),
            (Data(minimal.replacingOccurrences(of: #""format": 1"#, with: #""format": 1e0"#).utf8), #""format" must be the whole number 1 (found 1e0)"#),
            (Data((text + #", "input": {"mean": 1e39, "std": 1}}"#).utf8), #""input.mean" must be a number a float32 can hold (±3.4e38), not 1e39"#),
            (Data((text + #", "input": {"mean": 1, "std": 1e999}}"#).utf8), "the number 1e999 is too large to be finite (rule: number)"),
            (Data((text + #", "input": {"mean": NaN, "std": 1}}"#).utf8), "expected a value, found 'N' (rule: syntax)"),
            (Data((text + #", "x": \#(deep)}"#).utf8), "nest more than 32 deep (rule: depth)"),
            (Data(minimal.utf8).prefix(20) + Data([0xC3, 0x28]) + Data(minimal.utf8).dropFirst(20), "is not valid UTF-8 (byte 20 of the file) (rule: encoding)"),
            (Data("{\n  \"format\": 01}".utf8), "line 2, column 13: a number has a leading zero (rule: number)"),
            (Data(#"{"name": "a\u0000b"}"#.utf8), "\"format\" must be the whole number 1"),
            (Data("{\"name\": \"a\nb\"}".utf8), "a string holds the control byte 0x0A"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try Manifest.parse(data, file: "b/manifest.json"), rule) {
                let text = String(describing: $0)
                XCTAssertTrue(text.hasPrefix("b/manifest.json: manifest key") && text.contains(rule), "expected «\(rule)» in «\(text)»")
            }
        }
    }

    func test_parse_rejectsEachBrokenRule_namingTheKey() {
        func with(_ edit: (inout [String: Any]) -> Void) -> Data {
            var root = try! JSONSerialization.jsonObject(with: Data(minimal.utf8)) as! [String: Any]
            edit(&root)
            return try! JSONSerialization.data(withJSONObject: root)
        }
        let cases: [(Data, String)] = [
            (Data("[1]".utf8), "\"(root)\" is not valid JSON: line 1, column 1: the manifest must be one JSON object"),
            (with { $0["trainig"] = [:] }, "\"trainig\" is not a known key"),
            (with { $0["format"] = 2 }, "\"format\" must be the whole number 1 (found 2)"),
            (with { $0["name"] = "../evil" }, "\"name\" must be"),
            (with { $0["task"] = "ranking" }, "\"task\" must be"),
            (with { $0["splits"] = ["test": ["inputs": "a", "targets": "b"]] }, "\"splits.train\" is required"),
            (with { $0["splits"] = ["train": ["inputs": "a", "targets": "b", "labels": "c"]] }, "\"splits.train.labels\" is not a known key"),
            (with { $0["classes"] = ["only"] }, "\"classes\" must be a list of at least two"),
            (with { $0["augmentation"] = ["generators": ["spin"]] }, "\"augmentation.generators\" must list names"),
            (with { $0["augmentation"] = ["initial_theta": ["rotation": -1]] }, "\"augmentation.initial_theta.rotation\" must be a width"),
            (with { $0["model"] = ["architecture": "resnet"] }, "\"model.architecture\" must be \"smallnet\", \"simpleconv\" or \"mlp\""),
            (with { $0["model"] = ["epochs": 3] }, "\"model.epochs\" is not a known key (known here: architecture, width)"),
            (with { $0["training"] = ["epochs": 2.5] }, "\"training.epochs\" must be a whole number from 1 to 10000"),
            (with { $0["training"] = ["epochs": true] }, "\"training.epochs\" must be a whole number"),
            (with { $0["training"] = ["learning_rate": 0] }, "\"training.learning_rate\" must be a number above 0 and below 10"),
            (with { $0["training"] = ["regularization": 100] }, "\"training.regularization\" must be a number from 0 up to but not including 100"),
            (with { $0["training"] = ["seed": -1] }, "\"training.seed\" must be a whole number from 0 to 18446744073709551615"),
            (with { $0["training"] = ["schedule": 1] }, "\"training.schedule\" must be \"cosine\" or \"constant\""),
            (with { $0["training"] = ["width": 8] }, "\"training.width\" is not a known key (known here: epochs, batch_size"),
        ]
        for (data, rule) in cases {
            XCTAssertThrowsError(try Manifest.parse(data, file: "b/manifest.json"), rule) {
                let text = String(describing: $0)
                XCTAssertTrue(text.hasPrefix("b/manifest.json: manifest key") && text.contains(rule), "expected «\(rule)» in «\(text)»")
            }
        }
    }
}

final class DatasetFolderTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = try makeScratchFolder("folder")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func write(images: [Float], shape: [Int], labels: [Float], manifest: String? = nil) throws {
        try IDXArray.encodeBytes(shape: shape, values: images).write(to: folder.appendingPathComponent("x.idx"))
        try Gzip.compress(IDXArray.encodeFloats(shape: [labels.count], values: labels)).write(to: folder.appendingPathComponent("y.idx.gz"))
        let text = manifest ?? #"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "x.idx", "targets": "y.idx.gz"}}}"#
        try Data(text.utf8).write(to: folder.appendingPathComponent("manifest.json"))
    }

    func test_load_readsImagesAndLabels() throws {
        try write(images: (0..<32).map(Float.init), shape: [2, 4, 4], labels: [1, 0])
        let loaded = try DatasetFolder.load(folder)
        XCTAssertEqual(loaded.train.count, 2)
        XCTAssertEqual([loaded.train.channels, loaded.train.height, loaded.train.width], [1, 4, 4])
        XCTAssertEqual(loaded.classes, ["0", "1"])
        XCTAssertEqual(loaded.train.images[31], 31)
    }

    func test_load_rejectsDataThatDisagrees_namingTheFile() throws {
        try write(images: (0..<48).map(Float.init), shape: [3, 4, 4], labels: [1, 0])
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue(String(describing: $0).contains("2 targets for 3 images"), "\($0)") }
        try write(images: (0..<32).map(Float.init), shape: [2, 4, 4], labels: [1, 0.5])
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue(String(describing: $0).contains("y.idx.gz: label 1 is 0.5"), "\($0)") }
        try write(images: (0..<32).map(Float.init), shape: [2, 4, 4], labels: [1, 1])
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue(String(describing: $0).contains("only one class"), "\($0)") }
        try write(images: (0..<32).map(Float.init), shape: [2, 4, 4], labels: [1, 0],
                  manifest: #"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "../x.idx", "targets": "y.idx.gz"}}}"#)
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue(String(describing: $0).contains("(rule: no \"..\" components)"), "\($0)") }
        try write(images: (0..<32).map(Float.init), shape: [2, 4, 4], labels: [1, 0],
                  manifest: #"{"format": 1, "name": "t", "task": "classification", "splits": {"train": {"inputs": "missing.idx", "targets": "y.idx.gz"}}}"#)
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue(String(describing: $0).contains("\"missing.idx\", which is not in the bundle"), "\($0)") }
    }

    func test_load_pngClassFolders_npyInputs_andCSVTargets() throws {
        // PNG class folders: labels from the folder names.
        for (name, value) in [("cat", 10), ("dog", 200)] {
            let classFolder = folder.appendingPathComponent("train/\(name)")
            try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
            for i in 0..<2 {
                try makePNG(width: 3, height: 2, color: 0, depth: 8, samples: (0..<6).map { _ in [value + i] })
                    .write(to: classFolder.appendingPathComponent("\(i).png"))
            }
        }
        try Data(#"{"format": 1, "name": "pets", "task": "classification", "splits": {"train": {"inputs": "train"}}}"#.utf8)
            .write(to: folder.appendingPathComponent("manifest.json"))
        let pets = try DatasetFolder.load(folder)
        XCTAssertEqual(pets.classes, ["cat", "dog"])
        XCTAssertEqual(pets.train.targets, [0, 0, 1, 1])
        XCTAssertEqual([pets.train.channels, pets.train.height, pets.train.width], [1, 2, 3])
        XCTAssertEqual(pets.train.images[6], 11)

        // NPY images and CSV targets given by class name.
        try NPY.encode(shape: [3, 2, 2], values: (0..<12).map(Float.init)).write(to: folder.appendingPathComponent("x.npy"))
        try Data("id,label\n1,dog\n2,cat\n3,dog\n".utf8).write(to: folder.appendingPathComponent("y.csv"))
        try Data(#"{"format": 1, "name": "p2", "task": "classification", "classes": ["cat", "dog"], "splits": {"train": {"inputs": "x.npy", "targets": "y.csv"}}}"#.utf8)
            .write(to: folder.appendingPathComponent("manifest.json"))
        let mixed = try DatasetFolder.load(folder)
        XCTAssertEqual(mixed.train.targets, [1, 0, 1])
        try Data("id,label\n1,bird\n".utf8).write(to: folder.appendingPathComponent("y.csv"))
        XCTAssertThrowsError(try DatasetFolder.load(folder)) { XCTAssertTrue("\($0)".contains("y.csv: line 2: \"bird\" is neither a number nor one of the classes"), "\($0)") }
    }
}
