import java.sql.*;
import java.util.Properties;

// Drives pgjdbc against a server and prints what it sees, one fact per
// line, for the Go test to check. Usage: JdbcCheck <jdbc-url> <user>
public class JdbcCheck {
    static void out(String k, Object v) { System.out.println(k + "=" + v); }

    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", a[1]);
        p.setProperty("ApplicationName", "jdbc-check");
        try (Connection c = DriverManager.getConnection(a[0], p)) {
            DatabaseMetaData md = c.getMetaData();
            out("product", md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) out("schema", rs.getString("TABLE_SCHEM"));
            }
            try (ResultSet rs = md.getCatalogs()) {
                while (rs.next()) out("catalog", rs.getString("TABLE_CAT"));
            }
            try (ResultSet rs = md.getTables(null, "dataflow", "%", null)) {
                while (rs.next()) out("table", rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
            }
            try (ResultSet rs = md.getTables(null, "dataflow", "%", new String[]{"VIEW"})) {
                int n = 0;
                while (rs.next()) n++;
                out("views", n);
            }
            try (ResultSet rs = md.getColumns(null, "dataflow", "audit_log", null)) {
                while (rs.next()) out("column", rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE") + ":" + rs.getInt("ORDINAL_POSITION") + ":" + rs.getString("IS_NULLABLE"));
            }
            try (ResultSet rs = md.getPrimaryKeys(null, "dataflow", "audit_log")) {
                int n = 0;
                while (rs.next()) n++;
                out("primary_keys", n);
            }
            try (ResultSet rs = md.getTableTypes()) {
                while (rs.next()) out("table_type", rs.getString(1));
            }
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT at, \"user\", duration_ms, statement FROM dataflow.audit_log LIMIT 1")) {
                ResultSetMetaData m = rs.getMetaData();
                for (int i = 1; i <= m.getColumnCount(); i++) {
                    out("rsmd", m.getColumnName(i) + ":" + m.getColumnTypeName(i) + ":" + m.getColumnType(i) + ":" + m.getTableName(i) + ":" + m.getSchemaName(i) + ":" + m.isNullable(i) + ":" + m.isAutoIncrement(i));
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM dataflow.audit_log WHERE \"user\" = ? AND duration_ms >= ?")) {
                ps.setString(1, a[1]);
                ps.setDouble(2, 0.0);
                for (int i = 0; i < 6; i++) { // the 5th run switches pgjdbc to a named server statement
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        if (i == 5) out("prepared_count_positive", rs.getLong(1) > 0);
                    }
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT statement FROM dataflow.audit_log WHERE at > ? ORDER BY at")) {
                ps.setFetchSize(2);
                ps.setTimestamp(1, new Timestamp(0));
                try (ResultSet rs = ps.executeQuery()) {
                    int n = 0;
                    while (rs.next()) n++;
                    out("fetched_rows_at_least_3", n >= 3);
                }
            }
            c.commit();
            c.setAutoCommit(true);
            out("done", true);
        }
    }
}
