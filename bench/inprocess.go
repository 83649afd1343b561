package bench

import (
	"context"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// InProcess drives service.Run directly, for the in-process figure.
type InProcess struct {
	Service *service.Service
	// Org must hold a valid ENTERPRISE licence.
	Org domain.OrgID
}

var _ Driver = (*InProcess)(nil)

// Name returns "in-process".
func (d *InProcess) Name() string { return "in-process" }

// Setup creates an app with one version published to production, a web
// chat channel resource and n conversations on them.
func (d *InProcess) Setup(ctx context.Context, n int) ([]string, error) {
	app, err := d.Service.CreateApp(ctx, d.Org, "bench")
	if err != nil {
		return nil, err
	}
	v, err := d.Service.CreateVersion(ctx, d.Org, app.ID, nil)
	if err != nil {
		return nil, err
	}
	dep, err := d.Service.Publish(ctx, d.Org, app.ID, v.ID, domain.EnvProduction)
	if err != nil {
		return nil, err
	}
	res, err := d.Service.CreateResource(ctx, d.Org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "bench", Address: "bench-widget"})
	if err != nil {
		return nil, err
	}
	convs := make([]string, n)
	for i := range convs {
		st, err := d.Service.StartConversation(ctx, d.Org, service.StartInput{
			DeploymentID: dep.ID,
			Party:        service.Party{ResourceID: res.ID, CustomerDestination: fmt.Sprintf("bench-session-%d", i)},
		})
		if err != nil {
			return nil, err
		}
		convs[i] = string(st.Conversation.ID)
	}
	return convs, nil
}

// Update runs update_customer_identifier through service.Run.
func (d *InProcess) Update(ctx context.Context, conversation, identifier string) error {
	res, err := d.Service.Run(ctx, d.Org, service.RunRequest{
		Kind: domain.KindDataOperation, Name: OpUpdate,
		Inputs: map[string]any{"conversationId": conversation, "customerIdentifier": identifier},
	})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	return checkUpdated(res.Value)
}

// Find runs find_conversations_by_customer_identifier through service.Run.
func (d *InProcess) Find(ctx context.Context, identifier, conversation string) error {
	res, err := d.Service.Run(ctx, d.Org, service.RunRequest{
		Kind: domain.KindDataOperation, Name: OpFind,
		Inputs: map[string]any{"customerIdentifier": identifier},
	})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	ids, ok := res.Value.([]string)
	if !ok {
		return fmt.Errorf("find returned %T, want a list of ids", res.Value)
	}
	return checkFound(ids, conversation)
}

func checkUpdated(value any) error {
	if value != true {
		return fmt.Errorf("update returned %v, want true", value)
	}
	return nil
}

func checkFound(ids []string, conversation string) error {
	if !slices.Equal(ids, []string{conversation}) {
		return fmt.Errorf("find returned %v, want [%s]", ids, conversation)
	}
	return nil
}
