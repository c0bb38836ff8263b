import { Card } from '../components/card';
import { EmptyState } from '../components/empty-state';
import { PageTitle } from '../components/page-title';

/** The overview: what is running, due and late. Empty until scripts, schedules and checks exist. */
export default function OverviewPage() {
  return (
    <>
      <PageTitle>Overview</PageTitle>
      <Card>
        <EmptyState title="Nothing to show yet">
          <p>Scripts, schedules and checks will appear here.</p>
        </EmptyState>
      </Card>
    </>
  );
}
