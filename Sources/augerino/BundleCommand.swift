import ArgumentParser
import Bundle
import Foundation

/// `augerino bundle pack|check`: making and validating dataset bundles.
struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Make and check dataset bundles (.tar.gz with manifest.json; docs/bundle-format.md).",
        subcommands: [BundlePack.self, BundleCheck.self])
}

struct BundlePack: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a dataset folder into a .tar.gz bundle.",
        discussion: """
            The folder holds manifest.json and the data files it names, or a recognised layout \
            for which the manifest is written: MNIST-style IDX files (train-images…, train-labels…, \
            t10k-… or test-…) or class folders of PNG images (train/<class>/*.png, test/<class>/*.png).
            """)

    @Argument(help: "The folder: manifest.json and its data files, or a recognised layout.")
    var folder: String

    @Option(help: "The bundle to write (.tar.gz or .tgz); must not exist yet.")
    var out: String

    @Option(help: "Names for the labels 0, 1, 2, … of a recognised layout, comma-separated (for example Fashion-MNIST's T-shirt,Trouser,…); the report shows them.")
    var classes: String?

    var classNames: [String]? { classes.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } } }

    func validate() throws {
        guard out.hasSuffix(".tar.gz") || out.hasSuffix(".tgz") else { throw ValidationError("--out \(out): a bundle's name ends in .tar.gz or .tgz") }
        if let names = classNames, names.count < 2 || names.contains(where: \.isEmpty) || Set(names).count != names.count {
            throw ValidationError("--classes \"\(classes ?? "")\": give at least two distinct, non-empty names separated by commas")
        }
        try requireNew(out)
    }

    func run() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw CommandFailure("\(folder): no such folder; give the folder that holds manifest.json and its data files, MNIST-style IDX files or class folders of PNGs")
        }
        try BundleArchive.pack(URL(fileURLWithPath: folder), to: URL(fileURLWithPath: out), classes: classNames)
        // Check what was packed the way a reader will, and keep nothing that fails.
        do {
            let (dataset, cleanup) = try openDataset(out)
            cleanup()
            print("wrote \(out): \(dataset.manifest.name), \(dataset.train.count) training images\(dataset.test.map { ", \($0.count) test images" } ?? "")")
        } catch {
            try? FileManager.default.removeItem(atPath: out)
            throw error
        }
    }
}

struct BundleCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a bundle (or a dataset folder) and print a summary; exit status 1 if it is not valid.")

    @Argument(help: "A .tar.gz bundle or a dataset folder.")
    var bundle: String

    func run() throws {
        do {
            let (dataset, cleanup) = try openDataset(bundle)
            defer { cleanup() }
            let manifest = dataset.manifest
            print("\(bundle): valid bundle \"\(manifest.name)\" (\(manifest.task.rawValue))")
            for (name, split) in [("train", Optional(dataset.train)), ("test", dataset.test)] {
                guard let split else { print("  test: none (10% of train is held out)"); continue }
                print("  \(name): \(split.count) images of \(split.channels)×\(split.height)×\(split.width)")
            }
            if let classes = dataset.classes {
                let counts = classes.indices.map { c in dataset.train.targets.filter { Int($0) == c }.count }
                print("  classes: " + zip(classes, counts).map { "\($0.escapingControlCharacters) (\($1))" }.joined(separator: ", "))
            }
        } catch let error as BundleError {
            throw CommandFailure("\(error)")
        }
    }
}

/// Loads a dataset from a bundle file (unpacked into a `StagingFolder`) or a folder; the
/// returned closure removes what was unpacked. Errors name the bundle and its members, never
/// the staging folder.
func openDataset(_ path: String) throws -> (DatasetFolder, () -> Void) {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        throw CommandFailure("\(path): no such file or folder; give a .tar.gz bundle or a dataset folder (`augerino bundle check` tells whether a folder or bundle will do)")
    }
    if isFolder.boolValue { return (try DatasetFolder.load(URL(fileURLWithPath: path), recognisingLayouts: true), {}) }
    let staging = try StagingFolder()
    let name = URL(fileURLWithPath: path).lastPathComponent
    do {
        let root = try BundleArchive.extract(URL(fileURLWithPath: path), into: staging.url.appendingPathComponent("bundle"), displayName: name)
        return (try DatasetFolder.load(root, displayName: name), { staging.remove() })
    } catch {
        staging.remove()
        throw error
    }
}
