package parser

import "testing"

func TestRedact(t *testing.T) {
	secret := func(k string) bool {
		return k == "password" || k == "secret_key" || k == "access_key"
	}
	tests := []struct{ in, want string }{
		{"CREATE USER bob PASSWORD 'hunter2' ROLE admin", "CREATE USER bob PASSWORD '********' ROLE admin"},
		{"alter user bob with password E'hun\\'ter2'", "alter user bob with password '********'"},
		{"ALTER USER bob PASSWORD $pw$it's$pw$", "ALTER USER bob PASSWORD '********'"},
		{"ALTER USER bob PASSWORD /* c */ $$x$$;", "ALTER USER bob PASSWORD /* c */ '********';"},
		{"CREATE DATASOURCE s TYPE s3 OPTIONS (access_key 'AK', secret_key E'S\\nK', bucket 'b')",
			"CREATE DATASOURCE s TYPE s3 OPTIONS (access_key '********', secret_key '********', bucket 'b')"},
		{"CREATE DATASOURCE p TYPE postgres OPTIONS (password 1234, \"password\" -5, host 'h')",
			"CREATE DATASOURCE p TYPE postgres OPTIONS (password '********', \"password\" '********', host 'h')"},
		{"CREATE DATASOURCE p TYPE postgres OPTIONS (password hunter2)", "CREATE DATASOURCE p TYPE postgres OPTIONS (password '********')"},
		{"CREATE SYNC JOB j WITH (secret_key = 'x', threads = 1)", "CREATE SYNC JOB j WITH (secret_key = '********', threads = 1)"},
		// Syntax errors and cut-off text.
		{"CREATE DATASOURCE p TYPE OPTIONS OPTIONS (password 'x' 'y' ,,", "CREATE DATASOURCE p TYPE OPTIONS OPTIONS (password '********' 'y' ,,"},
		{"CREATE USER bob PASSWORD 'hunt", "CREATE USER bob PASSWORD '********'"},
		{"CREATE USER bob PASSWORD E'hunt\\'", "CREATE USER bob PASSWORD '********'"},
		{"CREATE USER bob PASSWORD $$hun", "CREATE USER bob PASSWORD '********'"},
		{"SELECT 1; CREATE USER a PASSWORD 'x'; CREATE USER b PASSWORD 'y'", "SELECT 1; CREATE USER a PASSWORD '********'; CREATE USER b PASSWORD '********'"},
		// Nothing to mask.
		{"SELECT password FROM dataflow.users", "SELECT password FROM dataflow.users"},
		{"CREATE USER password PASSWORD", "CREATE USER password PASSWORD"},
		{"", ""},
		{"'", "'"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in, secret); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	if got := Redact("CREATE USER a PASSWORD 'x'", nil); got != "CREATE USER a PASSWORD '********'" {
		t.Errorf("Redact with nil isSecretKey = %q", got)
	}
}
