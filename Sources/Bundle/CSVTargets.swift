import Foundation

/// Targets from a CSV file: a header row, then one row per image. The column used is the only
/// one, else the one named "target" or "label", else the last. Values are numbers (class
/// indices or regression targets) or, when class names are given, class names.
public enum CSVTargets {
    /// Columns a targets file may have (checked on the header before anything is split).
    public static let maxColumns = 1024

    /// - Throws: `BundleError.data` naming the file, the line and the rule.
    public static func parse(_ data: Data, file: String, classes: [String]?) throws -> IDXArray {
        func fail(_ rule: String) -> BundleError { .data(file: file, rule: rule) }
        guard let text = String(data: data, encoding: .utf8) else { throw fail("the CSV file is not UTF-8 text") }
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).map { String($0) }
        guard let header = lines.first else { throw fail("the CSV file is empty; it needs a header row and one row per image") }
        guard header.utf8.count(where: { $0 == UInt8(ascii: ",") }) < maxColumns else {
            throw fail("the header has more than \(maxColumns) columns (rule: column cap)")
        }
        let columns = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let column = columns.count == 1 ? 0 : (columns.firstIndex(of: "target") ?? columns.firstIndex(of: "label") ?? columns.count - 1)
        var values: [Float] = []
        for (number, line) in lines.dropFirst().enumerated() {
            let commas = line.utf8.count(where: { $0 == UInt8(ascii: ",") })
            guard commas + 1 == columns.count else {
                throw fail("line \(number + 2) has \(commas + 1) fields, the header has \(columns.count)")
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let field = fields[column].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if let value = Float(field) {
                values.append(value)
            } else if let index = classes?.firstIndex(of: field) {
                values.append(Float(index))
            } else {
                throw fail("line \(number + 2): \"\(field)\" is neither a number nor one of the classes\(classes.map { " \($0)" } ?? " (the manifest names none)")")
            }
        }
        return IDXArray(shape: [values.count], values: values)
    }
}
