package main

import "github.com/spf13/cobra"

func newNotifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "notify",
		Short: "Notification targets (Teams, Slack, webhook)",
	}
}
