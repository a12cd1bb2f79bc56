import java.sql.*;
import java.util.Properties;

// pgjdbc cursors (setFetchSize, autocommit off) over dataflow.datasources,
// with ResultSetMetaData calls (pgjdbc's own catalog query, with Sync in
// between) and a second statement between fetches. Prints one fact per
// fetch size: the names read in order.
// Usage: PortalCheck <jdbc-url> <user>
public class PortalCheck {
    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", a[1]);
        p.setProperty("ApplicationName", "portal-check");
        try (Connection c = DriverManager.getConnection(a[0], p)) {
            c.setAutoCommit(false);
            for (int size : new int[]{1, 2, 50}) {
                StringBuilder names = new StringBuilder();
                int n = 0;
                try (PreparedStatement ps = c.prepareStatement("SELECT name, type FROM dataflow.datasources WHERE name LIKE ? ORDER BY name")) {
                    ps.setFetchSize(size);
                    ps.setString(1, "ds%");
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            if (n > 0) names.append(',');
                            names.append(rs.getString(1));
                            n++;
                            if (n % size == 0) {
                                // Between fetches: pgjdbc's field metadata query, then
                                // another statement of our own.
                                ResultSetMetaData md = rs.getMetaData();
                                md.isNullable(1);
                                md.isAutoIncrement(2);
                                md.getTableName(1);
                                try (Statement other = c.createStatement(); ResultSet o = other.executeQuery("SELECT count(*) FROM dataflow.datasources")) {
                                    o.next();
                                }
                            }
                        }
                    }
                }
                c.commit();
                System.out.println("fetch" + size + "_count=" + n);
                System.out.println("fetch" + size + "_names=" + names);
            }
            c.setAutoCommit(true);
            System.out.println("done=true");
        }
    }
}
