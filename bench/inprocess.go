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
	dep, res, err := SetupDeployment(ctx, d.Service, d.Org)
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

// SetupDeployment creates an app in org with one version published to
// production, and a web chat channel resource.
func SetupDeployment(ctx context.Context, svc *service.Service, org domain.OrgID) (domain.Deployment, domain.ChannelResource, error) {
	app, err := svc.CreateApp(ctx, org, "bench")
	if err != nil {
		return domain.Deployment{}, domain.ChannelResource{}, err
	}
	v, err := svc.CreateVersion(ctx, org, app.ID, nil)
	if err != nil {
		return domain.Deployment{}, domain.ChannelResource{}, err
	}
	dep, err := svc.Publish(ctx, org, app.ID, v.ID, domain.EnvProduction)
	if err != nil {
		return domain.Deployment{}, domain.ChannelResource{}, err
	}
	res, err := svc.CreateResource(ctx, org, service.ResourceInput{Kind: domain.ResourceWebChat, Name: "bench", Address: "bench-widget"})
	return dep, res, err
}

// Update runs update_customer_identifier through service.Run.
func (d *InProcess) Update(ctx context.Context, conversation, identifier string) error {
	return serviceUpdate(ctx, d.Service, d.Org, conversation, identifier)
}

// Find runs find_conversations_by_customer_identifier through service.Run.
func (d *InProcess) Find(ctx context.Context, identifier, conversation string) error {
	ids, err := serviceFind(ctx, d.Service, d.Org, identifier)
	if err != nil {
		return err
	}
	return checkFound(ids, conversation)
}

// InProcessTarget calls service.Run, for seeded runs.
type InProcessTarget struct {
	Service *service.Service
	// Org must hold a valid ENTERPRISE licence.
	Org domain.OrgID
}

var _ Target = InProcessTarget{}

// Name returns "in-process".
func (t InProcessTarget) Name() string { return "in-process" }

// Update runs update_customer_identifier through service.Run.
func (t InProcessTarget) Update(ctx context.Context, _ int, conversation, identifier string) error {
	return serviceUpdate(ctx, t.Service, t.Org, conversation, identifier)
}

// Find runs find_conversations_by_customer_identifier through service.Run.
func (t InProcessTarget) Find(ctx context.Context, _ int, identifier string) ([]string, error) {
	return serviceFind(ctx, t.Service, t.Org, identifier)
}

func serviceUpdate(ctx context.Context, svc *service.Service, org domain.OrgID, conversation, identifier string) error {
	res, err := svc.Run(ctx, org, service.RunRequest{
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

func serviceFind(ctx context.Context, svc *service.Service, org domain.OrgID, identifier string) ([]string, error) {
	res, err := svc.Run(ctx, org, service.RunRequest{
		Kind: domain.KindDataOperation, Name: OpFind,
		Inputs: map[string]any{"customerIdentifier": identifier},
	})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	ids, ok := res.Value.([]string)
	if !ok {
		return nil, fmt.Errorf("find returned %T, want a list of ids", res.Value)
	}
	return ids, nil
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
