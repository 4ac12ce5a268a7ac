import ArgumentParser
import Bundle
import Foundation
import NN
import XCTest
@testable import augerino

/// The command line as users meet it: help texts and the sentences bad options produce.
final class CommandLineTests: XCTestCase {
    func test_help_listsEveryCommand_andEveryCommandHasAnAbstract() {
        let help = Augerino.helpMessage()
        for command in ["daemon", "status", "jobs", "retry", "cancel", "train", "predict", "report", "example", "bundle", "bench"] { XCTAssertTrue(help.contains(command), "top-level help lacks \(command)") }
        let benchHelp = Augerino.helpMessage(for: Bench.self)
        for command in ["gemm", "conv", "train", "mnist"] { XCTAssertTrue(benchHelp.contains(command), "bench help lacks \(command)") }
        for command in [DaemonCommand.self, Status.self, Jobs.self, Retry.self, Cancel.self, ReportCommand.self, Train.self, Predict.self, BenchGemm.self, BenchConv.self, BenchTrain.self, BenchMNIST.self, BundlePack.self, BundleCheck.self,
                        ExampleMarioIggy.self, ExampleRotatedMNIST.self, ExampleRotationAngle.self] as [ParsableCommand.Type] {
            XCTAssertFalse(command.configuration.abstract.isEmpty, "\(command) has no abstract")
        }
        XCTAssertTrue(Augerino.helpMessage(for: Train.self).contains("--probe-images"))
    }

    func test_badOptions_areSentencesThatNameTheOption() {
        let cases: [([String], String)] = [
            (["train", "data", "--out", "o", "--epochs", "0"], "--epochs 0: must be a whole number from 1 to 10000"),
            (["train", "data", "--out", "o", "--schedule", "linear"], "--schedule linear: must be \"cosine\" or \"constant\""),
            (["bench", "fidelity", "--reg", "100"], "--reg 100: must be a number from 0 up to but not including 100"),
            (["bench", "fidelity", "--seed", "3"], "--seed: each run's seed is its number"),
            (["train", "data", "--out", "o", "--threads", "2000"], "--threads 2000: a thread count must be from 0 (all cores) to 1024"),
            (["daemon", "--threads=-1"], "--threads -1: must be from 0 (all cores) to 1024"),
            (["bench", "gemm", "--sizes", "12,x"], "--sizes \"12,x\": expected comma-separated whole numbers"),
            (["bench", "train", "--batch", "1"], "--batch 1: must be from 2 to 4096"),
            (["predict", "model.safetensors", "x.idx", "--copies", "2000"], "--copies 2000: must be from 0 to 1024"),
            (["bundle", "pack", "folder", "--out", "x.zip"], "--out x.zip: a bundle's name ends in .tar.gz or .tgz"),
            (["daemon", "--workers", "0"], "--workers 0: must be from 1 to 64"),
            (["train", "data", "--out", "o", "--width-learning-rate", "12"], "--width-learning-rate 12: must be a number from 0 up to but not including 10"),
            (["train", "data", "--out", "o", "--generators", "rotation,mirror"], "--generators rotation,mirror: must list names from translate_x, translate_y, rotation"),
            (["train", "data", "--out", "o", "--generators", "rotation,rotation"], "each at most once"),
            (["jobs", "--state", "sleeping"], "sleeping"),
        ]
        for (arguments, expected) in cases {
            XCTAssertThrowsError(try Augerino.parseAsRoot(arguments), arguments.joined(separator: " ")) { error in
                let message = Augerino.message(for: error)
                XCTAssertTrue(message.contains(expected), "«\(arguments.joined(separator: " "))» gave «\(message)»")
            }
        }
    }

    /// The training flags are the settings table's: one per setting, under the table's name.
    func test_trainingFlags_areTheSettingsTable() throws {
        XCTAssertEqual(Set(try TrainingFlags.parse([]).given.keys), Set(TrainingSetting.allCases), "a setting without a flag, or a flag without a setting")
        for setting in TrainingSetting.allCases {
            let value: String = switch setting.row.kind {
            case .integer(let range): String(range.upperBound)
            case .seed: "7"
            case .real(let lower, _, _, _): String(lower + 0.5)
            case .choice(let names): names.last!
            case .names(let names): "\(names[2]), \(names.last!)"
            }
            let flags = try TrainingFlags.parse([setting.flag, value])
            XCTAssertEqual(try flags.values()[setting], setting.value(parsing: value), "\(setting.flag) \(value)")
            XCTAssertEqual(try flags.values().settings, [setting], "\(setting.flag) sets \(setting.name) alone")
        }
        let train = try XCTUnwrap(Augerino.parseAsRoot(["train", "data", "--out", "o", "--batch", "64", "--architecture", "mlp"]) as? Train)
        XCTAssertEqual(try train.training.values(), try SettingValues([.batchSize: .integer(64), .architecture: .choice("mlp")]))
    }

    /// Work that fails (a missing file, a folder that is not a result, a file that is not a
    /// bundle) is exit status 1 with a sentence that names the thing and the fix, not a usage
    /// error (64) with the usage line.
    func test_failedWork_isExitStatusOne_withTheProblemAndTheFix() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("notes.txt")
        try Data("not a bundle\n".utf8).write(to: text)
        let path = folder.path
        let cases: [([String], String)] = [
            (["report", path], "/report.json: no such file, so its folder is not a result folder; hint: give outbox/NAME or the --out of `augerino train`"),
            (["report", path + "/missing"], "no such folder; give a result folder"),
            (["train", path + "/nope.tar.gz", "--out", path + "/o"], "no such file or folder; give a .tar.gz bundle or a dataset folder"),
            (["bundle", "pack", path + "/missing", "--out", path + "/x.tar.gz"], "no such folder; give the folder that holds manifest.json"),
            (["bundle", "check", text.path], "it is not gzip-compressed at all: a bundle is a gzip-compressed tar (make one with `augerino bundle pack"),
            (["bundle", "check", path], "no readable manifest.json in \(path), and no layout that `augerino bundle pack` recognises"),
        ]
        for (arguments, expected) in cases {
            var command = try Augerino.parseAsRoot(arguments)
            XCTAssertThrowsError(try command.run(), arguments.joined(separator: " ")) { error in
                let message = Augerino.message(for: error)
                XCTAssertEqual(Augerino.exitCode(for: error), .failure, "«\(arguments.joined(separator: " "))»: \(message)")
                XCTAssertTrue(message.contains(expected), "«\(arguments.joined(separator: " "))» gave «\(message)»")
            }
        }
        XCTAssertEqual(Augerino.negativeJobID(in: ["retry", "-1"]), "-1: a job id is a positive whole number; `augerino jobs` lists them")
        XCTAssertEqual(Augerino.negativeJobID(in: ["cancel", "--config", "d.conf", "-7"]), "-7: a job id is a positive whole number; `augerino jobs` lists them")
        XCTAssertNil(Augerino.negativeJobID(in: ["retry", "3"]))
        XCTAssertNil(Augerino.negativeJobID(in: ["train", "-1"]))
    }

    /// `train` reads a folder in a layout `bundle pack` recognises, without a manifest.
    func test_train_acceptsAFolderInALayoutThatBundlePackRecognises() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-layout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = (0..<(8 * 28 * 28)).map { Float($0 % 256) }
        try IDXArray.encodeBytes(shape: [8, 28, 28], values: images).write(to: folder.appendingPathComponent("train-images-idx3-ubyte"))
        try IDXArray.encodeBytes(shape: [8], values: (0..<8).map { Float($0 % 2) }).write(to: folder.appendingPathComponent("train-labels-idx1-ubyte"))
        let (dataset, cleanup) = try openDataset(folder.path)
        cleanup()
        XCTAssertEqual(dataset.train.count, 8)
        XCTAssertEqual(dataset.manifest.task, .classification)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path), "nothing is written into the folder")
    }

    /// `bundle pack --classes` names the labels of a layout that has no manifest.
    func test_bundlePack_namesTheClassesOfARecognisedLayout() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("augerino-classes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = folder.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try IDXArray.encodeBytes(shape: [8, 28, 28], values: (0..<(8 * 28 * 28)).map { Float($0 % 256) })
            .write(to: data.appendingPathComponent("train-images-idx3-ubyte"))
        try IDXArray.encodeBytes(shape: [8], values: (0..<8).map { Float($0 % 3) }).write(to: data.appendingPathComponent("train-labels-idx1-ubyte"))
        let out = folder.appendingPathComponent("named.tar.gz").path
        var pack = try Augerino.parseAsRoot(["bundle", "pack", data.path, "--out", out, "--classes", "T-shirt, Trouser,Pullover"])
        try pack.run()
        let (dataset, cleanup) = try openDataset(out)
        cleanup()
        XCTAssertEqual(dataset.classes, ["T-shirt", "Trouser", "Pullover"])
        XCTAssertThrowsError(try Augerino.parseAsRoot(["bundle", "pack", data.path, "--out", out + ".tgz", "--classes", "only"])) { error in
            XCTAssertTrue(Augerino.message(for: error).contains("--classes \"only\": give at least two distinct, non-empty names"), Augerino.message(for: error))
        }
    }

    /// Every command's --help, as a user reads it, against `Golden/help.txt`: a change to any
    /// command's options or wording shows up here and is made on purpose. After such a change,
    /// `AUGERINO_UPDATE_GOLDEN=1 swift test --filter CommandLineTests/test_help_matchesTheGoldenText`
    /// writes the new text (then read its diff before committing it).
    func test_help_matchesTheGoldenText() throws {
        func commands(_ command: ParsableCommand.Type, path: [String]) -> [(String, ParsableCommand.Type)] {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty else { return [(path.joined(separator: " "), command)] }
            return [(path.joined(separator: " "), command)] + subcommands.flatMap { commands($0, path: path + [$0._commandName]) }
        }
        let text = commands(Augerino.self, path: ["augerino"]).filter { !$0.0.hasSuffix("job-child") }.map { name, command in
            "=== \(name) --help\n" + Augerino.helpMessage(for: command, columns: 100)
        }.joined(separator: "\n") + "\n"
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/help.txt")
        if ProcessInfo.processInfo.environment["AUGERINO_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: golden)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        let (got, want) = (text.split(separator: "\n", omittingEmptySubsequences: false), expected.split(separator: "\n", omittingEmptySubsequences: false))
        if let first = zip(got, want).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            XCTFail("--help differs from Golden/help.txt at line \(first.offset + 1): «\(first.element.0)» instead of «\(first.element.1)»")
        }
        XCTAssertEqual(got.count, want.count, "--help has \(got.count) lines, Golden/help.txt \(want.count)")
    }

    /// bench train's roofline counts a direct convolution's FLOPs, layer by layer: smallnet(2) on
    /// one 28x28 image, counted by hand.
    func test_benchTrainRoofline_countsDirectConvolutionFLOPs() {
        var random = RandomGenerator(seed: 3)
        let net = NetworkSpec(architecture: .smallnet, width: 2, inputChannels: 1, outputs: 10, dropout: 0.3).makeNetwork(random: &random)
        // 3×3 convolutions 1→2, 2→2, 2→4 at 28x28, 4→4 at 14x14, 4→4 at 7x7; linear 4→10.
        let shapes: [(cin: Int, cout: Int, side: Int)] = [(1, 2, 28), (2, 2, 28), (2, 4, 28), (4, 4, 14), (4, 4, 7)]
        let convolutions: [Double] = shapes.map { shape in Double(2 * shape.cin * shape.cout * 9 * shape.side * shape.side) }
        let forward: [Double] = convolutions + [Double(2 * 4 * 10)]
        let withoutInputGradient: Double = 2 * forward[0] + 3 * forward.dropFirst().reduce(0, +)
        XCTAssertEqual(usefulTrainingFLOPsPerImage(net, inputShape: [1, 1, 28, 28], inputNeedsGradient: false), withoutInputGradient)
        XCTAssertEqual(usefulTrainingFLOPsPerImage(net, inputShape: [1, 1, 28, 28], inputNeedsGradient: true), withoutInputGradient + forward[0])
        XCTAssertTrue(net.layers.allSatisfy(\.isTraining), "counting left the network in evaluation mode")
    }
}
