/// allocatord's version: the one place it is written. Both programs print it (`--version`),
/// `status` reports it, every member keeps it in its node (so that `members` shows a rolling
/// upgrade's progress), and the Debian package is named after it.
public enum ProductVersion {
    public static let current = "0.4.0"
}
