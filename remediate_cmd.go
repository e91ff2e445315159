package main

import "github.com/spf13/cobra"

func newRemediateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remediate",
		Short: "List, approve and run pending remediations",
	}
}
