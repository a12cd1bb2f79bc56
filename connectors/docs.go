package connectors

import (
	"fmt"
	"strings"
)

// OptionsMarkdown renders one markdown section with an option table per type,
// in the order given. docs/datasources.md is generated from it.
func OptionsMarkdown(types []Type) string {
	var b strings.Builder
	for i, t := range types {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "## %s\n\n", t.Name)
		if t.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", t.Description)
		}
		b.WriteString("| option | required | default | secret | description | example |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
		for _, o := range t.Options {
			desc := o.Description
			if o.Kind == KindEnum {
				desc += " One of: " + codeList(o.Values) + "."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n",
				o.Name, yesNo(o.Required), code(o.Default), yesNo(o.Secret), cell(desc), code(o.Example))
		}
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + cell(s) + "`"
}

func codeList(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = "`" + v + "`"
	}
	return strings.Join(out, ", ")
}

// cell keeps a value from breaking the table row.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
