package cli_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/cli"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/spf13/cobra"
)

// An app's own command line with Gatehouse's policy, role and user
// commands, which know the app's routes: `myapp policy lint|check|test`.
func ExamplePolicyCommand() {
	routes := []policy.Function{{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"}}
	opts := cli.Options{Catalog: append(handlers.DefaultCatalog(), routes...)}
	root := &cobra.Command{Use: "myapp", SilenceUsage: true}
	root.AddCommand(cli.PolicyCommand(opts), cli.RoleCommand(opts), cli.UserCommand(opts))

	dir, err := os.MkdirTemp("", "cli-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	policyFile, matrixFile := filepath.Join(dir, "policy.csv"), filepath.Join(dir, "matrix.csv")
	if err := os.WriteFile(policyFile, []byte(policy.DefaultCSV+"p, public, /api/posts, GET\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	if err := os.WriteFile(matrixFile, []byte("public, GET, /api/posts, allow\npublic, GET, /api/users/me, deny\n"), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	root.SetOut(os.Stdout)
	db := "sqlite://" + filepath.Join(dir, "app.db")
	for _, args := range [][]string{
		{"role", "create", "Editor", "--database-url", db}, // a command that writes sets a new database up
		{"policy", "test", matrixFile, "--policy", policyFile, "--database-url", db},
	} {
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			fmt.Println("failed:", err)
		}
	}
	// Output:
	// created role Editor (type editor, id 4)
	// 2 passed, 0 failed
}
