import Bundle
import Foundation
import Invariance
import NN
@testable import Training
import TestSupport
import XCTest

/// The settings a run derives when neither flags, manifest nor daemon.conf set them.
final class TrainingRunTests: XCTestCase {
    /// A dataset folder of `count` 8x8 images: classification (two classes) or regression.
    func folder(count: Int, task: String, training: [String: Any] = [:], augmentation: [String: Any]? = nil, channels: Int = 1) throws -> DatasetFolder {
        let folder = try makeScratchFolder("run")
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let images = (0..<(count * channels * 64)).map { Float(($0 * (channels == 1 ? 1 : 37)) % 251) }
        try IDXArray.encodeBytes(shape: channels == 1 ? [count, 8, 8] : [count, channels, 8, 8], values: images)
            .write(to: folder.appendingPathComponent("images.idx"))
        try IDXArray.encodeBytes(shape: [count], values: (0..<count).map { Float($0 % 2) }).write(to: folder.appendingPathComponent("targets.idx"))
        var manifest: [String: Any] = ["format": 1, "name": "defaults", "task": task, "model": ["architecture": "mlp", "width": 4],
                                       "splits": ["train": ["inputs": "images.idx", "targets": "targets.idx"]], "training": training]
        if task == "classification" { manifest["classes"] = ["a", "b"] }
        if let augmentation { manifest["augmentation"] = augmentation }
        try JSONSerialization.data(withJSONObject: manifest).write(to: folder.appendingPathComponent("manifest.json"))
        return try DatasetFolder.load(folder)
    }

    func testEpochsDefaultToAboutFiveThousandSixHundredSteps() {
        // Rotated MNIST's 12,000 images in batches of 128: 94 steps an epoch, 60 epochs.
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 12_000, batchSize: 128), 60)
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 60_000, batchSize: 128), 12)
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 1_000_000, batchSize: 128), 10, "at least 10 epochs")
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 64, batchSize: 128), 200, "at most 200 epochs")
        // With the widths held (the spread objective) the budget trains the network alone.
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 12_000, batchSize: 128, widthsHeld: true), 14)
        XCTAssertEqual(RunSettings.defaultEpochs(trainImages: 60_000, batchSize: 128, widthsHeld: true), 10, "at least 10 epochs")
    }

    /// smallnet drops channels (0.3) only at the reference's width and above.
    func testSmallnetDropout_onlyAtTheReferencesWidth() throws {
        XCTAssertEqual(try TrainingRun(dataset: folder(count: 60, task: "classification")).spec.dropout, 0, "mlp")
        XCTAssertEqual(TrainingRun.defaultDropout(.smallnet, width: 32), 0)
        XCTAssertEqual(TrainingRun.defaultDropout(.smallnet, width: 128), 0.3)
        XCTAssertEqual(TrainingRun.defaultDropout(.simpleconv, width: 128), 0)
    }

    func testRegularizationAndEpochsFollowTheTaskAndTheData() throws {
        let classification = try TrainingRun(dataset: try folder(count: 4_000, task: "classification", training: ["batch_size": 100]))
        XCTAssertEqual(classification.settings.regularization, 0.1)
        // 3,600 training images (a tenth is held out as the test split) in batches of 100: 36
        // steps an epoch; the spread objective holds the widths, so 1,300 steps: 37 epochs
        // (under the reward, 5,600 steps: 156).
        XCTAssertEqual(classification.settings.epochs, 37)
        XCTAssertEqual(try TrainingRun(dataset: try folder(count: 4_000, task: "classification", training: ["batch_size": 100, "objective": "reward"]))
            .settings.epochs, 156)
        XCTAssertEqual(classification.settings.rewardUnits, .displacement)
        XCTAssertEqual(classification.settings.schedule, .cosine)
        let regression = try TrainingRun(dataset: try folder(count: 100, task: "regression"))
        XCTAssertEqual(regression.settings.regularization, 0.01)
    }

    func testTheManifestAndFlagsStillWin() throws {
        let data = try folder(count: 100, task: "regression", training: ["epochs": 3, "regularization": 0.5])
        XCTAssertEqual(try TrainingRun(dataset: data).settings.epochs, 3)
        XCTAssertEqual(try TrainingRun(dataset: data).settings.regularization, 0.5)
        let flagged = try TrainingRun(dataset: data, flags: try SettingValues([.epochs: .integer(2), .regularization: .real(0.2), .rewardUnits: .choice("parameter"),
                                                                         .schedule: .choice("constant")]))
        XCTAssertEqual(flagged.settings.epochs, 2)
        XCTAssertEqual(flagged.settings.regularization, 0.2)
        XCTAssertEqual(flagged.settings.rewardUnits, .parameter)
        XCTAssertEqual(flagged.settings.schedule, .constant)
    }

    /// The final evaluation and probes can take minutes: they say how far they are, in image
    /// passes that only grow and end at the total.
    func testFinishReportsProgressUpToItsTotal() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 1])
        let run = try TrainingRun(dataset: data, flags: try SettingValues([.probeImages: .integer(5)]))
        while !run.isFinished { _ = try run.trainNextEpoch() }
        var heard: [(Int, Int)] = []
        let result = run.finish(threads: 1) { heard.append(($0, $1)) }
        XCTAssertFalse(result.report.probes.isEmpty)
        let total = try XCTUnwrap(heard.first?.1)
        let test = run.test.count, copies = run.settings.testCopies
        XCTAssertEqual(total, test * copies + test + probeImagePasses(images: 5, copies: copies, height: 8, width: 8,
                                                                      symmetries: run.trainer.augmentation.symmetry?.learned ?? []))
        XCTAssertEqual(run.trainer.augmentation.symmetry?.learned, Set(SymmetryFamily.allCases), "the mirrors by default, each probed")
        XCTAssertTrue(heard.allSatisfy { $0.1 == total })
        XCTAssertEqual(heard.map(\.0), heard.map(\.0).sorted(), "progress never goes back")
        XCTAssertEqual(heard.last?.0, total, "it ends at its total")
        XCTAssertGreaterThan(heard.count, 40, "every evaluation batch and probe magnitude is heard")
    }

    func testEpochLinesShowTheWidthsInNaturalUnits() {
        let text = naturalWidthsText(["rotation": Float.pi / 2, "translate_x": 1, "scale": 0.4, "shear": 0.2, "gamma": 0.5, "brightness": 0.2],
                                     height: 28, width: 28)
        XCTAssertEqual(text, "translate_x ±0.68 px, rotation ±45.0°, scale ×0.82–×1.22, shear slope ±0.10, brightness ±10.5%, gamma ×0.78–×1.28")
    }

    /// Photometric families named in the manifest train beside the affine generators under the
    /// reward, show in the history and the report in their units, and travel in the model file
    /// (format /2), which predicts as the run's own model does.
    func testPhotometricFamilies_trainUnderTheReward_andTravelInTheModelFileAndReport() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 3, "objective": "reward"],
                              augmentation: ["generators": ["rotation", "brightness", "gamma"], "initial_theta": ["gamma": 0.3]])
        let run = try TrainingRun(dataset: data)
        let photometric = try XCTUnwrap(run.trainer.photometric)
        XCTAssertEqual(photometric.learned, [.brightness, .gamma])
        XCTAssertEqual(photometric.widthValues[.gamma]!, 0.3, accuracy: 1e-6)
        while !run.isFinished { _ = try run.trainNextEpoch() }
        let result = run.finish(threads: 1)
        XCTAssertNotNil(run.trainer.history.last?.theta["brightness"])
        XCTAssertNil(run.trainer.history.last?.theta["contrast"], "not named: not learned, not recorded")
        let rows = Dictionary(uniqueKeysWithValues: result.report.invariances.map { ($0.generator, $0) })
        XCTAssertEqual(rows["brightness"]?.unit, "percent")
        XCTAssertEqual(rows["gamma"]?.unit, "factor")
        XCTAssertEqual(rows["gamma"]?.initialTheta ?? 0, 0.3, accuracy: 1e-6)
        XCTAssertNil(rows["contrast"])
        let brightness = try XCTUnwrap(rows["brightness"])
        XCTAssertGreaterThan(brightness.theta, Float(log(2.0)), "the reward widens it from softplus(0)")
        XCTAssertEqual(brightness.interval[1], (exp(Double(brightness.theta) / 2) - 1) * 100, accuracy: 1e-3)
        // The probes sweep the learned families too, in their units: brightness −50%…+100%.
        XCTAssertEqual(result.report.probes.map(\.generator).suffix(2), ["brightness", "gamma"])
        let sweep = try XCTUnwrap(result.report.probes.first { $0.generator == "brightness" })
        XCTAssertEqual(sweep.unit, "percent")
        XCTAssertEqual(sweep.points.map(\.natural).first ?? 0, -50, accuracy: 1e-3)
        XCTAssertEqual(sweep.points.map(\.natural).last ?? 0, 100, accuracy: 1e-3)
        XCTAssertEqual(sweep.points[3].natural, 0, accuracy: 1e-6)

        let folder = try makeScratchFolder("photometric-model")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try result.model.write(to: url)
        let read = try ModelFile.read(from: url)
        XCTAssertEqual(try result.model.encoded().metadata["format"], "augerino.model/2")
        let readPhotometric = try XCTUnwrap(read.photometric)
        XCTAssertEqual(readPhotometric.learned, photometric.learned)
        XCTAssertEqual(readPhotometric.rawWidths.values, photometric.rawWidths.values)
        XCTAssertEqual(readPhotometric.gain, photometric.gain, accuracy: 1e-6 * photometric.gain)
        XCTAssertEqual(readPhotometric.offset, photometric.offset, accuracy: 1e-5)
        let x = run.test.batch(0..<run.test.count)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        XCTAssertEqual(read.predictor.predict(x, copies: 3, random: &a).values, run.trainer.predictor.predict(x, copies: 3, random: &b).values,
                       "the same copies, the same scores")
    }

    /// Under the spread objective (the default) the photometric families named are read with
    /// the affine generators before the first epoch and held; the evidence objective cannot
    /// learn them, and the run refuses them with a sentence that names the key and what to do.
    func testPhotometricFamilies_areReadByTheSpread_andRefusedByTheEvidenceWithWhatToDo() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 1], augmentation: ["generators": ["rotation", "contrast"]])
        let run = try TrainingRun(dataset: data)
        let photometric = try XCTUnwrap(run.trainer.photometric)
        _ = try run.trainNextEpoch()
        let read = try XCTUnwrap(run.trainer.photometricSpreadEstimate, "read with the affine spread")
        XCTAssertEqual(photometric.widthValues[.contrast]!, max(read.widths[.contrast]!, 1e-6), accuracy: 1e-5, "the width held is the one read")
        XCTAssertEqual(photometric.widthValues[.brightness], 0, "not named: not read, not learned")
        XCTAssertEqual(run.trainer.history.last?.theta["contrast"], photometric.widthValues[.contrast])
        let evidence = try folder(count: 60, task: "classification", training: ["objective": "evidence"], augmentation: ["generators": ["rotation", "contrast"]])
        XCTAssertThrowsError(try TrainingRun(dataset: evidence)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("augmentation.generators") && text.contains("contrast") && text.contains("--objective"), text)
        }
        XCTAssertNil(try TrainingRun(dataset: folder(count: 60, task: "classification")).trainer.photometric, "none unless named")
    }

    /// Saturation and hue on three channels train under the reward beside brightness, travel in
    /// the model file (five widths) and predict as the run's own model; a model file written
    /// before them (three widths: brightness, contrast, gamma) still reads.
    func testColourFamilies_trainOnThreeChannels_andTravelInTheModelFile_besideOlderFiles() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 2, "objective": "reward"],
                              augmentation: ["generators": ["rotation", "brightness", "saturation", "hue"], "initial_theta": ["hue": 0.5]], channels: 3)
        let run = try TrainingRun(dataset: data)
        let photometric = try XCTUnwrap(run.trainer.photometric)
        XCTAssertEqual(photometric.learned, [.brightness, .saturation, .hue])
        while !run.isFinished { _ = try run.trainNextEpoch() }
        let result = run.finish(threads: 1)
        let rows = Dictionary(uniqueKeysWithValues: result.report.invariances.map { ($0.generator, $0) })
        let hue = try XCTUnwrap(rows["hue"])
        XCTAssertEqual(hue.unit, "degrees")
        XCTAssertGreaterThan(hue.theta, 0.5, "the reward widens it")
        XCTAssertEqual(hue.interval[1], Double(hue.theta) / 2 * 180 / .pi, accuracy: 1e-3)
        XCTAssertEqual(rows["saturation"]?.unit, "factor")
        XCTAssertNotNil(run.trainer.history.last?.theta["hue"])
        let sweep = try XCTUnwrap(result.report.probes.first { $0.generator == "hue" })
        XCTAssertEqual(sweep.points.map(\.natural).first ?? 0, -180, accuracy: 1e-3)
        XCTAssertEqual(sweep.points.count, 13)

        let folder = try makeScratchFolder("colour-model")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try result.model.write(to: url)
        let read = try ModelFile.read(from: url)
        XCTAssertEqual(try XCTUnwrap(read.photometric).rawWidths.values, photometric.rawWidths.values)
        let x = run.test.batch(0..<run.test.count)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        XCTAssertEqual(read.predictor.predict(x, copies: 3, random: &a).values, run.trainer.predictor.predict(x, copies: 3, random: &b).values,
                       "the same copies, the same scores")

        // An older file: three widths, families among the first three only.
        var older = try result.model.encoded()
        older.metadata["photometric"] = older.metadata["photometric"]!.replacingOccurrences(of: "\"hue\",", with: "").replacingOccurrences(of: ",\"saturation\"", with: "")
        let index = try XCTUnwrap(older.entries.firstIndex { $0.name == "augmentation.photometric_raw_widths" })
        older.entries[index] = SafeTensors.Entry(name: "augmentation.photometric_raw_widths", shape: [3], values: Array(older.entries[index].values.prefix(3)))
        try older.write(to: url)
        let readOlder = try XCTUnwrap(try ModelFile.read(from: url).photometric, older.metadata["photometric"]!)
        XCTAssertEqual(readOlder.learned, [.brightness])
        XCTAssertEqual(readOlder.widthValues[.brightness], photometric.widthValues[.brightness])
        XCTAssertEqual(readOlder.widthValues[.hue], 0)
        // Three widths cannot carry hue: refused with a sentence naming the tensor.
        older.metadata["photometric"] = try XCTUnwrap(result.model.encoded().metadata["photometric"])
        try older.write(to: url)
        XCTAssertThrowsError(try ModelFile.read(from: url)) { XCTAssertTrue("\($0)".contains("augmentation.photometric_raw_widths"), "\($0)") }
    }

    /// On one channel saturation and hue are left out, and the report's rows say why.
    func testColourFamilies_onOneChannel_areLeftOut_andTheReportSaysWhy() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 1], augmentation: ["generators": ["rotation", "brightness", "hue", "saturation"]])
        let run = try TrainingRun(dataset: data)
        XCTAssertEqual(run.trainer.photometric?.learned, [.brightness])
        while !run.isFinished { _ = try run.trainNextEpoch() }
        let result = run.finish(threads: 1)
        XCTAssertNil(run.trainer.history.last?.theta["hue"])
        let rows = Dictionary(uniqueKeysWithValues: result.report.invariances.map { ($0.generator, $0) })
        for family in ["hue", "saturation"] {
            let row = try XCTUnwrap(rows[family])
            XCTAssertFalse(row.learned)
            XCTAssertEqual(row.theta, 0)
            XCTAssertEqual(row.leftOut, "\(family) needs red, green and blue; these images have 1 channel")
        }
        XCTAssertEqual(result.report.invariances.map(\.generator).suffix(3), ["brightness", "saturation", "hue"])
        XCTAssertNil(rows["brightness"]?.leftOut)
    }

    /// The manifest's names are the Invariance layer's generators and families, in their order.
    func testManifestGeneratorNames_areTheGeneratorsThenTheFamilies() {
        XCTAssertEqual(Manifest.generatorNames, AffineGenerator.allCases.map(\.rawValue) + PhotometricFamily.allCases.map(\.rawValue)
            + SymmetryFamily.allCases.map(\.rawValue))
        XCTAssertEqual(Manifest.symmetryNames, SymmetryFamily.allCases.map(\.rawValue))
    }

    /// Mirrors named in the manifest train under the reward with their probabilities (the
    /// score function's gradient beside the reward's), show in the history, the report (rows in
    /// "probability", probes as they are and mirrored) and the model file (format /2), which
    /// predicts as the run's own model does.
    func testMirrors_trainUnderTheReward_andTravelInTheModelFileAndReport() throws {
        let data = try folder(count: 60, task: "classification", training: ["epochs": 3, "objective": "reward"],
                              augmentation: ["generators": ["rotation", "horizontal_flip", "transpose"], "initial_theta": ["horizontal_flip": 0.1]])
        let run = try TrainingRun(dataset: data)
        let symmetry = try XCTUnwrap(run.trainer.augmentation.symmetry)
        XCTAssertEqual(symmetry.learned, [.horizontalFlip, .transpose])
        XCTAssertEqual(symmetry.probabilityValues[.horizontalFlip]!, 0.1, accuracy: 1e-5)
        XCTAssertEqual(symmetry.probabilityValues[.transpose]!, TrainingRun.defaultInitialProbability, accuracy: 1e-5)
        let before = symmetry.rawLogits.values
        while !run.isFinished { _ = try run.trainNextEpoch() }
        XCTAssertNotEqual(symmetry.rawLogits.values[0], before[0], "the probabilities train")
        XCTAssertEqual(symmetry.rawLogits.values[1], before[1], "not named: not trained")
        let result = run.finish(threads: 1)
        XCTAssertEqual(run.trainer.history.last?.theta["horizontal_flip"], symmetry.probabilityValues[.horizontalFlip])
        XCTAssertNil(run.trainer.history.last?.theta["vertical_flip"])
        let rows = Dictionary(uniqueKeysWithValues: result.report.invariances.map { ($0.generator, $0) })
        let mirror = try XCTUnwrap(rows["horizontal_flip"])
        XCTAssertEqual(mirror.unit, "probability")
        XCTAssertEqual(mirror.interval, [0, Double(mirror.theta)])
        XCTAssertEqual(mirror.initialTheta, 0.1, accuracy: 1e-6)
        XCTAssertEqual(result.report.invariances.map(\.generator).suffix(2), ["horizontal_flip", "transpose"])
        XCTAssertEqual(result.report.probes.map(\.generator).suffix(2), ["horizontal_flip", "transpose"])
        let sweep = try XCTUnwrap(result.report.probes.first { $0.generator == "transpose" })
        XCTAssertEqual(sweep.points.map(\.natural), [0, 1])
        XCTAssertEqual(sweep.points[0].metric, result.report.probes.first { $0.generator == "horizontal_flip" }?.points[0].metric,
                       "both sweeps start from the images as they are")

        let folder = try makeScratchFolder("mirror-model")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        try result.model.write(to: url)
        XCTAssertEqual(try result.model.encoded().metadata["format"], "augerino.model/2")
        XCTAssertNil(try result.model.encoded().metadata["photometric"], "mirrors alone need no photometric map")
        let read = try ModelFile.read(from: url)
        XCTAssertNil(read.photometric)
        let readSymmetry = try XCTUnwrap(read.augmentation.symmetry)
        XCTAssertEqual(readSymmetry.learned, symmetry.learned)
        XCTAssertEqual(readSymmetry.rawLogits.values, symmetry.rawLogits.values)
        let x = run.test.batch(0..<run.test.count)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        XCTAssertEqual(read.predictor.predict(x, copies: 3, random: &a).values, run.trainer.predictor.predict(x, copies: 3, random: &b).values,
                       "the same copies, the same scores")
    }

    /// Labels that say nothing of the images' shapes (the ramps of `folder`, labelled by parity)
    /// leave no class with one form: the mirrors read none, and the affine widths read beside
    /// them are marked in report.json as read from such classes.
    func testWidthsReadFromClassesWithoutOneForm_areMarked() throws {
        let run = try TrainingRun(dataset: folder(count: 60, task: "classification", training: ["epochs": 1],
                                                  augmentation: ["generators": ["rotation", "translate_x", "horizontal_flip"]]))
        _ = try run.trainNextEpoch()
        let read = try XCTUnwrap(run.trainer.spreadEstimate?.symmetry, "read before the first epoch")
        XCTAssertTrue(read.noOneForm, "form fits \(read.formFits)")
        let report = run.finish(threads: 1).report
        let marked = Set(report.invariances.filter { $0.classesWithoutOneForm == true }.map(\.generator))
        XCTAssertEqual(marked, ["rotation", "translate_x"], "the affine widths read, not the mirror nor those not learned")
        XCTAssertTrue(report.invariances.allSatisfy { $0.readWithinForms == nil }, "30 images a class are too few to split: read whole")
        XCTAssertEqual(report.invariances.first { $0.generator == "horizontal_flip" }?.noOneForm, true)
    }

    /// Under the spread objective the mirrors are read before the first epoch and held; the
    /// evidence objective cannot learn them and says so; a probability above ½ is refused.
    func testMirrors_areReadByTheSpread_andRefusedByTheEvidenceWithWhatToDo() throws {
        let run = try TrainingRun(dataset: folder(count: 60, task: "classification", training: ["epochs": 1], augmentation: ["generators": ["vertical_flip"]]))
        _ = try run.trainNextEpoch()
        let read = try XCTUnwrap(run.trainer.spreadEstimate?.symmetry, "read before the first epoch")
        let symmetry = try XCTUnwrap(run.trainer.augmentation.symmetry)
        XCTAssertEqual(symmetry.probabilityValues[.verticalFlip]!, min(max(read.probabilities[.verticalFlip]!, 1e-6), 0.5 - 1e-6), accuracy: 1e-5)
        XCTAssertEqual(run.trainer.augmentation.widthValues[.rotation], 0, "no affine generator named: none read")
        XCTAssertNotNil(run.finish(threads: 1).report.invariances.first { $0.generator == "vertical_flip" }?.thetaBand)
        XCTAssertThrowsError(try TrainingRun(dataset: folder(count: 60, task: "classification", training: ["objective": "evidence"],
                                                              augmentation: ["generators": ["rotation", "horizontal_flip"]]))) { error in
            XCTAssertTrue("\(error)".contains("augmentation.generators") && "\(error)".contains("horizontal_flip") && "\(error)".contains("objective"), "\(error)")
        }
        XCTAssertThrowsError(try folder(count: 60, task: "classification", augmentation: ["generators": ["horizontal_flip"], "initial_theta": ["horizontal_flip": 0.7]])) { error in
            XCTAssertTrue("\(error)".contains("augmentation.initial_theta.horizontal_flip") && "\(error)".contains("at most 0.5"), "\(error)")
        }
    }

    /// What to learn is a setting like any other: daemon.conf's `generators` fills in for a
    /// manifest that names none, the manifest wins over it and the flag over both; a refusal
    /// names the place the names came from.
    func testGenerators_comeFromTheFlag_thenTheManifest_thenDaemonConf() throws {
        let conf = try SettingValues([.generators: .names(["rotation", "vertical_flip"])])
        let plain = try TrainingRun(dataset: folder(count: 60, task: "classification"), defaults: conf)
        XCTAssertEqual(plain.resolved.generators, ["rotation", "vertical_flip"])
        XCTAssertEqual(plain.resolved.origins[.generators], .daemonConf)
        XCTAssertEqual(plain.trainer.augmentation.learned, [.rotation])
        XCTAssertEqual(plain.trainer.augmentation.symmetry?.learned, [.verticalFlip])
        let named = try folder(count: 60, task: "classification", augmentation: ["generators": ["scale"]])
        XCTAssertEqual(try TrainingRun(dataset: named, defaults: conf).trainer.augmentation.learned, [.scale], "the manifest wins over daemon.conf")
        let flagged = try TrainingRun(dataset: named, flags: SettingValues([.generators: .names(["shear", "brightness"])]), defaults: conf)
        XCTAssertEqual(flagged.trainer.augmentation.learned, [.shear], "the flag wins over both")
        XCTAssertEqual(flagged.trainer.photometric?.learned, [.brightness])
        XCTAssertNil(flagged.trainer.augmentation.symmetry)
        let byDefault = try TrainingRun(dataset: folder(count: 60, task: "classification"))
        XCTAssertEqual(byDefault.resolved.generators, AffineGenerator.allCases.map(\.rawValue) + ["horizontal_flip", "vertical_flip", "transpose"],
                       "by default the six affine generators and, with the spread objective, the mirrors")
        XCTAssertEqual(byDefault.resolved.origins[.generators], .derived)
        XCTAssertEqual(byDefault.trainer.augmentation.symmetry?.learned, Set(SymmetryFamily.allCases))
        let reward = try TrainingRun(dataset: folder(count: 60, task: "classification"), flags: SettingValues([.objective: .choice("reward")]))
        XCTAssertEqual(reward.resolved.generators, AffineGenerator.allCases.map(\.rawValue), "under the reward the six affine generators alone")
        XCTAssertNil(reward.trainer.augmentation.symmetry)
        XCTAssertEqual(try TrainingRun(dataset: folder(count: 60, task: "regression")).resolved.generators, AffineGenerator.allCases.map(\.rawValue),
                       "a regression's default objective is the reward")
        XCTAssertNoThrow(try TrainingRun(dataset: folder(count: 60, task: "classification"), flags: SettingValues([.objective: .choice("evidence")])),
                         "the evidence objective's default names nothing it refuses")
        let evidence = try SettingValues([.objective: .choice("evidence"), .generators: .names(["rotation", "horizontal_flip"])])
        XCTAssertThrowsError(try TrainingRun(dataset: folder(count: 60, task: "classification"), flags: evidence)) { error in
            XCTAssertEqual(error as? BundleError, .setting(place: "the command line", key: "--generators", rule: TrainingRun.notUnderEvidence("horizontal_flip")))
            XCTAssertTrue("\(error)".hasPrefix("the command line: --generators names horizontal_flip, which the evidence objective cannot learn"), "\(error)")
        }
    }

    /// With its epochs left to the data, a run whose answer has settled anneals and ends early,
    /// says so in the report, and ends where a run resumed from a checkpoint ends; with its
    /// epochs given, it takes them all.
    func testARunEndsOnceItsAnswerHasSettled_unlessItsEpochsWereGiven() throws {
        let data = try folder(count: 60, task: "classification")
        let frozen = try SettingValues([.widthLearningRate: .real(0)])  // the widths cannot move: only the metric decides
        let run = try TrainingRun(dataset: data, flags: frozen)
        XCTAssertTrue(run.stopsWhenSettled)
        XCTAssertEqual(run.settings.epochs, 200, "one step an epoch: the step budget caps it at 200")
        while !run.isFinished { _ = try run.trainNextEpoch() }
        let settled = try XCTUnwrap(run.settled)
        XCTAssertEqual(settled.epoch, 80, "window 40, and no earlier than twice the window")
        XCTAssertEqual(run.epochsDone, 120, "40 epochs of annealing after it settled")
        XCTAssertTrue(run.finish(threads: 1).report.settings["stop"]?.hasPrefix("settled at epoch 80 of 200") == true)

        let interrupted = try TrainingRun(dataset: data, flags: frozen)
        for _ in 0..<90 { _ = try interrupted.trainNextEpoch() }
        let resumed = try TrainingRun(dataset: data, flags: frozen)
        try resumed.resume(from: interrupted.checkpoint(), source: "memory")
        while !resumed.isFinished { _ = try resumed.trainNextEpoch() }
        XCTAssertEqual(resumed.epochsDone, 120)
        // Resumed from its last checkpoint (a crash before the final evaluation): already done.
        let afterTheEnd = try TrainingRun(dataset: data, flags: frozen)
        try afterTheEnd.resume(from: resumed.checkpoint(), source: "memory")
        XCTAssertTrue(afterTheEnd.isFinished, "a run resumed after its last epoch trains no more")
        XCTAssertEqual(afterTheEnd.plannedEpochs, 120)
        XCTAssertEqual(resumed.trainer.state.map(\.tensor.values), run.trainer.state.map(\.tensor.values), "the same weights as the uninterrupted run")

        var given = frozen
        try given.set(.epochs, .integer(50))
        let fixed = try TrainingRun(dataset: data, flags: given)
        XCTAssertFalse(fixed.stopsWhenSettled)
        while !fixed.isFinished { _ = try fixed.trainNextEpoch() }
        XCTAssertEqual(fixed.epochsDone, 50)
        XCTAssertNil(fixed.settled)
    }
}
